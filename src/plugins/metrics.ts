// Prometheus metrics: request count and duration by route and status,
// database errors, and Node's process metrics. One registry per process.
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FailureObserver } from '../db/database.ts';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const requestDuration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'Time to answer HTTP requests, by method, route and status.',
  labelNames: ['method', 'route', 'status_code'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

const requestsTotal = new Counter({
  name: 'http_requests_total',
  help: 'HTTP requests answered, by method, route and status.',
  labelNames: ['method', 'route', 'status_code'] as const,
  registers: [registry],
});

const databaseErrors = new Counter({
  name: 'db_query_errors_total',
  help: 'Database operations that failed, by kind of failure.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

/** What openDatabase is given to count failed statements (db_query_errors_total). */
export const countDatabaseFailure: FailureObserver = (kind) => databaseErrors.inc({ kind });

export const todoListCacheLookups = new Counter({
  name: 'todo_list_cache_lookups_total',
  help: 'GET /api/todos lookups of an already built body for the same todos and versions, by result (hit or miss).',
  labelNames: ['result'] as const,
  registers: [registry],
});

export function installMetrics(app: FastifyInstance): void {
  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, not the raw URL, so ids do not explode the label set.
    const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) };
    requestsTotal.inc(labels);
    requestDuration.observe(labels, reply.elapsedTime / 1000);
  });
}
