// Probes and metrics. /healthz never touches the database, so a database
// failover never gets healthy pods restarted; /readyz reports the database.
import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.ts';
import { migrationStatus, type Migration } from '../../db/migrate.ts';
import { registry } from '../../plugins/metrics.ts';

export interface OpsOptions {
  db: Database;
  migrations: Migration[];
  isShuttingDown: () => boolean;
  readinessTimeoutMs?: number;
}

async function checkDatabase(options: OpsOptions): Promise<string | undefined> {
  const timeoutMs = options.readinessTimeoutMs ?? 2000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`database did not answer within ${timeoutMs} ms`), timeoutMs);
  });
  const check = migrationStatus(options.db, options.migrations).then(
    ({ pending }) => (pending.length > 0 ? `database schema is behind: ${pending.length} migration(s) pending; run "todoapp migrate"` : undefined),
    (error: Error) => `database unreachable: ${error.message}`,
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

  app.get('/readyz', { logLevel: 'warn' }, async (_request, reply) => {
    reply.headers(noStore);
    const reason = options.isShuttingDown() ? 'shutting down' : await checkDatabase(options);
    if (reason) return reply.code(503).send({ status: 'unavailable', reason });
    return { status: 'ready' };
  });

  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    reply.headers(noStore).type(registry.contentType);
    return registry.metrics();
  });
}
