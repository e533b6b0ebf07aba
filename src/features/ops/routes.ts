// Probes. /healthz never touches the database, so a database failover never
// gets healthy pods restarted; /readyz reports the database. Metrics are not
// here: they have a listener of their own (plugins/metrics.ts, METRICS_PORT).
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.ts';
import { migrationStatus, type Migration } from '../../db/migrate.ts';

export interface OpsOptions {
  db: Database;
  migrations: Migration[];
  isShuttingDown: () => boolean;
  readinessTimeoutMs?: number;
}

async function checkDatabase(options: OpsOptions, log: FastifyBaseLogger): Promise<string | undefined> {
  const timeoutMs = options.readinessTimeoutMs ?? 2000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`database did not answer within ${timeoutMs} ms`), timeoutMs);
  });
  const check = migrationStatus(options.db, options.migrations).then(
    ({ pending }) =>
      pending.length > 0
        ? `database schema is behind: ${pending.length} migration(s) pending; run "todoapp migrate"`
        : undefined,
    (error: unknown) => {
      // The probe is unauthenticated: the error's text (host names, users,
      // SQL) goes to the log, the answer says only what kind of trouble.
      log.warn({ err: error }, 'readiness check: the database failed');
      return 'database unavailable';
    },
  );
  try {
    return await Promise.race([check, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function opsRoutes(app: FastifyInstance, options: OpsOptions): Promise<void> {
  const noStore = { 'cache-control': 'no-store' };

  app.get('/healthz', { logLevel: 'warn' }, async (_request, reply) => {
    reply.headers(noStore);
    return { status: 'ok' };
  });

  app.get('/readyz', { logLevel: 'warn' }, async (request, reply) => {
    reply.headers(noStore);
    const reason = options.isShuttingDown() ? 'shutting down' : await checkDatabase(options, request.log);
    if (reason) return reply.code(503).send({ status: 'unavailable', reason });
    return { status: 'ready' };
  });
}
