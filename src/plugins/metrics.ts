// Prometheus metrics: request count and duration by route and status,
// database errors (the app's own, all named todoapp_*), and Node's process
// metrics (prom-client's standard process_* and nodejs_* names, which
// dashboards expect as they are). One registry per process, served on a
// listener of its own (METRICS_PORT) so that the public port and the load
// balancer never expose it.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FailureObserver } from '../db/database.ts';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const requestDuration = new Histogram({
  name: 'todoapp_http_request_duration_seconds',
  help: 'Time to answer HTTP requests, by method, route and status.',
  labelNames: ['method', 'route', 'status_code'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

const requestsTotal = new Counter({
  name: 'todoapp_http_requests_total',
  help: 'HTTP requests answered, by method, route and status.',
  labelNames: ['method', 'route', 'status_code'] as const,
  registers: [registry],
});

const databaseErrors = new Counter({
  name: 'todoapp_db_query_errors_total',
  help: 'Database operations that failed, by kind of failure.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

/** What openDatabase is given to count failed statements (todoapp_db_query_errors_total). */
export const countDatabaseFailure: FailureObserver = (kind) => databaseErrors.inc({ kind });

// The caches' own metrics (todoapp_cache_*) are defined with them, in plugins/caches.ts.

export function installMetrics(app: FastifyInstance): void {
  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, not the raw URL, so ids do not explode the label set.
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status_code: String(reply.statusCode),
    };
    requestsTotal.inc(labels);
    requestDuration.observe(labels, reply.elapsedTime / 1000);
  });
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * The metrics listener: GET /metrics and nothing else. A bare node:http server,
 * not a second Fastify app, since it has one route, no users and no input.
 */
export async function startMetricsServer(options: {
  host: string;
  port: number;
  log: { error(details: object, message: string): void };
}): Promise<MetricsServer> {
  const server = http.createServer((request, response) => {
    const pathname = (request.url ?? '/').split('?')[0];
    if (pathname !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response
        .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
        .end('Not found: this port serves only GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) =>
        response
          .writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' })
          .end(request.method === 'HEAD' ? undefined : text),
      (error: unknown) => {
        options.log.error({ err: error }, 'could not collect metrics');
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('Could not collect metrics\n');
      },
    );
  });
  // A scraper that keeps its connection open must not hold up shutdown.
  server.keepAliveTimeout = 5000;
  server.listen(options.port, options.host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => Promise.reject(error as Error)),
  ]);
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
