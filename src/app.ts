// Builds the Fastify application. It never listens: the server and the tests
// both call buildApp and decide what to do with it.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import compress from '@fastify/compress';
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import cookie from '@fastify/cookie';
import cors from '@fastify/cors';
import { pino } from 'pino';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { withRetries } from './db/retry.ts';
import type { Migration } from './db/migrate.ts';
import { opsRoutes } from './features/ops/routes.ts';
import { ChangeFeed } from './features/events/feed.ts';
import { eventRoutes } from './features/events/routes.ts';
import { listApiRoutes } from './features/lists/api-routes.ts';
import { listPageRoutes } from './features/lists/page-routes.ts';
import { todoApiRoutes } from './features/todos/api-routes.ts';
import { todoPageRoutes } from './features/todos/page-routes.ts';
import { accountRoutes } from './features/accounts/routes.ts';
import { adminRoutes } from './features/admin/routes.ts';
import { installAuth, refuseApiTokens, requireApiCaller } from './plugins/auth.ts';
import { installCacheControl } from './plugins/cache-control.ts';
import { createAppCaches } from './plugins/caches.ts';
import { compression } from './plugins/compression.ts';
import { installSecurityHeaders } from './plugins/security-headers.ts';
import { staticRoutes } from './plugins/static-routes.ts';
import type { Viewer } from './views/pages.ts';
import { installErrorHandling } from './plugins/errors.ts';
import { installHostAllowlist } from './plugins/host-allowlist.ts';
import { idempotencyRepository } from './features/idempotency/repository.ts';
import { idempotentWrites } from './plugins/idempotency.ts';
import { installMetrics } from './plugins/metrics.ts';
import { installRequestLog } from './plugins/request-log.ts';
import { installValidation } from './plugins/validation.ts';

export interface AppOptions {
  config: Config;
  db: Database;
  /** From resolveSecretKey: SECRET_KEY, or the embedded database's own key. */
  secretKey: string;
  migrations: Migration[];
  /** Pino logger options; tests pass `false` to keep output quiet. */
  logger?: boolean | object;
}

/** Accept a caller's request id only when it is short and harmless in logs. */
function requestId(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
}

export interface RouteEntry {
  method: string;
  url: string;
  public: boolean;
}

const PRUNE_KEYS_EVERY_MS = 15 * 60_000;
const LOG_BUFFER_BYTES = 4096;
const LOG_FLUSH_MS = 1000;

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options;
  // Requests see a database that rides through a failover (db/retry.ts); the
  // readiness probe and the idempotency records use it directly.
  const db = withRetries(options.db, config.db.retryBudgetMs);
  // Every committed write tells the live feed (made below, once the logger exists).
  const made: { feed?: ChangeFeed } = {};
  const writeOnce = idempotentWrites(options.db, config.db.retryBudgetMs, () => made.feed?.changed());
  let shuttingDown = false;
  // Log lines gather in a buffer and leave in one write when it holds 4 KB,
  // or within a second, instead of a write call per line (at info, one per
  // request); pino writes out what is left when the process exits. Only a
  // kill -9 could lose the last second's lines.
  const logDestination =
    options.logger === undefined ? pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES }) : undefined;
  const flushLogs = logDestination && setInterval(() => logDestination.flush(), LOG_FLUSH_MS).unref();
  const app = Fastify({
    logger: options.logger ?? {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers.cookie'],
      stream: logDestination,
    },
    trustProxy: config.trustProxy,
    bodyLimit: config.bodyLimit,
    genReqId: requestId,
    requestIdHeader: false,
    return503OnClosing: true,
    logController: new LogController({ disableRequestLogging: true }), // one line per request instead: installRequestLog
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // Lets the server flip readiness before it stops accepting connections.
  // Every route this app serves, as registered: the tests sweep them (e.g.
  // each API route refuses a stranger) so a new route is covered by itself.
  const routeTable: RouteEntry[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat())
      routeTable.push({ method, url: route.url, public: route.config?.public === true });
  });
  app.decorate('routeTable', routeTable);
  app.decorate('flushLogs', () => logDestination?.flush());
  app.decorate('beginShutdown', () => {
    shuttingDown = true;
  });

  // Registered before every route (it hooks each one as it is added): HTML and
  // JSON over 1 KB leave compressed; request bodies are never decompressed.
  await app.register(compress, {
    ...compression,
    globalDecompression: false,
    // Up to 256 KB (a page of some 150 todos) in one synchronous call on the
    // event loop: cheaper than the stream through the thread pool, whose
    // set-up cost more than the compression itself at these sizes.
    syncThreshold: 256 * 1024,
  });
  installValidation(app);
  installErrorHandling(app, { debug: config.debug, bodyLimit: config.bodyLimit });
  installMetrics(app);
  installRequestLog(app);
  installHostAllowlist(app, { allowedHosts: config.allowedHosts, publicOrigin: config.publicUrl });
  installSecurityHeaders(app);
  installCacheControl(app);
  await app.register(cookie);
  // The app's own in-memory caches, never shared with another app of the process (plugins/caches.ts).
  const caches = createAppCaches();
  app.addHook('onClose', async () => caches.close());
  app.addHook('onClose', async () => {
    clearInterval(flushLogs);
    logDestination?.flush();
  });
  const auth = installAuth(app, {
    db,
    secretKey: options.secretKey,
    sessionTtlDays: config.sessionTtlDays,
    lookups: caches.authLookups,
    credentialsChanged: () => made.feed?.credentialsChanged(),
  });
  const viewerOf = (request: FastifyRequest, reply: FastifyReply): Viewer | undefined =>
    request.user && request.authMethod === 'session'
      ? { username: request.user.username, isAdmin: request.user.isAdmin, csrfToken: auth.csrfToken(request, reply) }
      : undefined;
  // The API takes JSON only; form encodings are for the HTML pages' scope.
  app.removeContentTypeParser('text/plain');

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'todoapp API',
        version: '1',
        description: 'Todos as JSON. Errors are `{ error, details: [{ field, message }] }`.',
      },
    },
    hideUntagged: true,
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });

  const pruneKeys = setInterval(() => {
    idempotencyRepository
      .deleteExpired(options.db)
      .catch((error: unknown) => app.log.warn({ err: error }, 'could not delete expired idempotency keys'));
  }, PRUNE_KEYS_EVERY_MS).unref();
  app.addHook('onClose', async () => clearInterval(pruneKeys));

  // The live feed of list changes (features/events): one reader of the change log per app.
  const feed = new ChangeFeed(options.db, app.log, config.changesRetentionDays, auth.clearLookups);
  made.feed = feed;
  app.addHook('onReady', () => feed.start());
  // Before the server stops taking connections, which would wait for the streams to end otherwise.
  app.addHook('preClose', async () => feed.endStreams());
  app.addHook('onClose', () => feed.stop());
  app.decorate('changeFeed', feed);

  await app.register(opsRoutes, { db: options.db, migrations: options.migrations, isShuttingDown: () => shuttingDown });
  await app.register(
    async (api) => {
      api.addHook('onRequest', requireApiCaller);
      if (config.corsOrigins.length > 0) {
        await api.register(cors, {
          origin: config.corsOrigins,
          methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
          allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key'],
          exposedHeaders: ['Location', 'Link', 'X-Request-Id'],
          maxAge: 600,
        });
      }
      await api.register(todoApiRoutes, { db, writeOnce, caches });
      await api.register(listApiRoutes, { db, writeOnce });
      await api.register(eventRoutes, { feed });
      api.get('/openapi.json', { schema: { hide: true } as object, config: { public: true } }, async () =>
        app.swagger(),
      );
    },
    { prefix: '/api' },
  );
  await app.register(async (pages) => {
    // preParsing rather than onRequest: the admin area's own gate (onRequest,
    // in its child scope) then answers first, with its 404 for anyone but an
    // admin's session, so that area stays undiscoverable to token holders too.
    pages.addHook('preParsing', refuseApiTokens);
    await pages.register(formbody);
    await pages.register(todoPageRoutes, { db, writeOnce, viewerOf, caches, feed });
    await pages.register(listPageRoutes, { db, writeOnce, viewerOf });
    await pages.register(accountRoutes, { db, config, auth, viewerOf });
    await pages.register(adminRoutes, { db, viewerOf, forgetLookups: auth.forgetLookups });
  });
  await app.register(staticRoutes);
  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    beginShutdown(): void;
    /** The live feed of list changes (features/events/feed.ts). */
    changeFeed: ChangeFeed;
    readonly routeTable: readonly RouteEntry[];
    /** Writes out the buffered log lines now (e.g. "listening", which a supervisor or a person waits for). */
    flushLogs(): void;
  }
}
