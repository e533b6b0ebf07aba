// Runs the app: opens the database, makes sure the schema is current, listens,
// and shuts down gracefully on SIGTERM/SIGINT.
import v8 from 'node:v8';
import type { FastifyInstance } from 'fastify';
import { listenForExports, type ExportSocket } from './backup-socket.ts';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/database.ts';
import { loadMigrations, migrate, migrationStatus, type Migration } from './db/migrate.ts';
import { announceFirstAdminSetup } from './features/accounts/setup-code.ts';
import { countDatabaseFailure, startMetricsServer, type MetricsServer } from './plugins/metrics.ts';
import { resolveSecretKey } from './secret-key.ts';

export class StartupError extends Error {
  override name = 'StartupError';
}

async function prepareSchema(config: Config, db: Database, migrations: Migration[]): Promise<void> {
  // The embedded database belongs to this process alone, so it migrates itself.
  if (config.database.kind === 'embedded' || config.migrateOnStart) {
    await migrate(db, migrations);
    return;
  }
  const { pending } = await migrationStatus(db, migrations);
  if (pending.length > 0) {
    throw new StartupError(
      `The database schema is behind: ${pending.length} migration(s) pending (${pending.map((m) => `${m.version}_${m.name}`).join(', ')}). ` +
        'Run "todoapp migrate" first, or set MIGRATE_ON_START=true.',
    );
  }
}

/**
 * While no admin exists: prints the one-time setup code on this terminal
 * (features/accounts/setup-code.ts). A failure here must not stop a server
 * that otherwise works; createsuperuser remains.
 */
async function announceSetup(
  app: FastifyInstance,
  db: Database,
  config: Config,
  secretKey: string,
  address: string,
): Promise<void> {
  // A server listening on every interface is reached through one of them; localhost is the one that surely works on this machine.
  const signupUrl = `${address.replace(/\/\/(0\.0\.0\.0|\[::\])(?=:)/, '//localhost')}/signup`;
  try {
    const printed = await announceFirstAdminSetup(db, {
      secretKey,
      registrationOpen: config.registration === 'open',
      signupUrl,
      print: (text) => process.stderr.write(text),
    });
    if (printed === 'setup-code')
      app.log.warn(
        { signupUrl },
        'no admin account exists yet: sign up with the one-time setup code printed on standard error',
      );
    if (printed === 'createsuperuser')
      app.log.warn('no admin account exists yet: create one with todoapp createsuperuser');
  } catch (error) {
    app.log.error(
      { err: error },
      'could not make a setup code for the first admin; todoapp createsuperuser still makes one',
    );
  }
}

export interface RunningServer {
  app: FastifyInstance;
  address: string;
  /** The metrics listener's port, or undefined when METRICS_PORT=0. */
  metricsPort: number | undefined;
  /** Readiness fails at once, in-flight requests finish (up to the timeout), the database closes. */
  shutdown(): Promise<void>;
}

export async function startServer(config: Config): Promise<RunningServer> {
  // The app's modules (some 0.4 s of loading) load while the database opens.
  const appModule = import('./app.ts');
  appModule.catch(() => undefined); // awaited below; an early failure must not go unhandled meanwhile
  const migrations = await loadMigrations();
  const db = await openDatabase(config, countDatabaseFailure);
  let app: FastifyInstance | undefined;
  let metrics: MetricsServer | undefined;
  let exportSocket: ExportSocket | undefined;
  let secretKey: string;
  try {
    await prepareSchema(config, db, migrations);
    secretKey = await resolveSecretKey(config);
    const { buildApp } = await appModule;
    app = await buildApp({ config, db, migrations, secretKey });
    await app.listen({ port: config.port, host: config.host });
    if (config.metricsPort !== 0)
      metrics = await startMetricsServer({ host: config.host, port: config.metricsPort, log: app.log });
    // The embedded database can be copied only from inside this process: `todoapp export-data` asks here.
    if (config.database.kind === 'embedded')
      exportSocket = await listenForExports(config.database.dataDir, db, app.log);
  } catch (error) {
    await exportSocket?.close();
    await app?.close();
    await db.close();
    throw error;
  }
  const origin = (port: number) => `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const address = origin((app.server.address() as { port: number }).port);
  app.log.info(
    {
      address,
      metrics: metrics ? `${origin(metrics.port)}/metrics` : 'off',
      database: config.database.kind,
      ...(exportSocket ? { exportSocket: exportSocket.path } : {}),
      node: process.version,
    },
    'todoapp is listening',
  );
  await announceSetup(app, db, config, secretKey, address);
  app.flushLogs();

  let closing: Promise<void> | undefined;
  const shutdown = () => {
    closing ??= (async () => {
      app.beginShutdown();
      app.log.info('shutting down: finishing in-flight requests');
      const timer = setTimeout(() => {
        app.log.error(`in-flight requests did not finish within ${config.shutdownTimeoutMs} ms; exiting anyway`);
        process.exit(1);
      }, config.shutdownTimeoutMs);
      timer.unref();
      try {
        await Promise.all([app.close(), metrics?.close(), exportSocket?.close()]);
      } finally {
        await db.close();
        clearTimeout(timer);
      }
      app.log.info('shut down cleanly');
    })();
    return closing;
  };
  return { app, address, metricsPort: metrics?.port, shutdown };
}

/**
 * V8 lets the old generation grow to some four times what survived the last
 * full collection when the host has gigabytes free, which for this server (30
 * MB live) meant 250 MB resident under load. One and a half times held it near
 * 160 MB, at a cost within the noise of the benchmark. V8 reads the factor at
 * every collection, so it can be set here. See docs/decisions/009-performance.md.
 */
const HEAP_GROWING_PERCENT = 50;

/** Starts the server and ties its graceful shutdown to SIGTERM, SIGINT and an unhandled promise rejection. */
export async function serve(config: Config): Promise<void> {
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  const server = await startServer(config);
  let signalled = false;
  /** Finishes the requests in flight (server.shutdown), then exits with `code`, or 1 if that failed. */
  const shutDownAndExit = (code: number) =>
    void server.shutdown().then(
      () => process.exit(code),
      (error: unknown) => {
        server.app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      server.app.log.warn(`second ${signal}: exiting now`);
      process.exit(1);
    }
    signalled = true;
    server.app.log.info({ signal }, 'received signal');
    shutDownAndExit(0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // A promise nobody handled (a bug, ours or a library's): Node would exit at once, dropping the
  // requests in flight. Say what it was, finish those requests as on SIGTERM, then exit 1 so that
  // the supervisor (Kubernetes, Compose's restart policy) starts a fresh process.
  process.on('unhandledRejection', (reason: unknown) => {
    server.app.log.fatal({ err: reason }, 'unhandled promise rejection: shutting down');
    signalled = true;
    shutDownAndExit(1);
  });
}
