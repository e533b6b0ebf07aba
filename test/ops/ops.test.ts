// Health, readiness, request ids, the host allow-list, proxies, and
// what users see when something breaks.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startMetricsServer } from '../../src/plugins/metrics.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { rawRequest } from '../support/http.ts';
import { startPostgresServer } from '../support/postgres.ts';

describe('probes and metrics', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp('pglite');
  });
  after(() => t.close());

  it('/healthz and /readyz answer 200 when all is well', async () => {
    const health = await t.request('/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await t.request('/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready' });
  });

  it('the public port does not serve /metrics (its own listener does: metrics.test.ts)', async () => {
    assert.equal((await t.request('/metrics')).status, 404);
  });

  it('echoes a request id, or makes one', async () => {
    const given = await t.request('/healthz', { headers: { 'x-request-id': 'abc-123' } });
    assert.equal(given.headers.get('x-request-id'), 'abc-123');
    const made = await t.request('/healthz', { headers: { 'x-request-id': 'bad id\twith spaces' } });
    assert.match(made.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });
});

describe('host allow-list and proxies', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp('pglite', { ALLOWED_HOSTS: 'todo.example.com,.example.org', TRUST_PROXY: 'true' });
  });
  after(() => t.close());

  it('rejects other hosts with 400, but not the probes', async () => {
    const auth = { authorization: `Bearer ${t.alice.token}` };
    const evil = await rawRequest(t.baseUrl, { path: '/api/todos', headers: { host: 'evil.test', ...auth } });
    assert.equal(evil.status, 400);
    assert.equal(JSON.parse(evil.body).details[0].field, 'Host');
    const page = await rawRequest(t.baseUrl, { path: '/', headers: { host: 'evil.test', accept: 'text/html' } });
    assert.equal(page.status, 400);
    assert.match(page.headers['content-type'] ?? '', /text\/html/);
    for (const path of ['/healthz', '/readyz']) {
      assert.equal((await rawRequest(t.baseUrl, { path, headers: { host: '10.1.2.3:8000' } })).status, 200, path);
    }
    assert.equal(
      (await rawRequest(t.baseUrl, { path: '/api/todos', headers: { host: 'todo.example.com', ...auth } })).status,
      200,
    );
    assert.equal(
      (await rawRequest(t.baseUrl, { path: '/api/todos', headers: { host: 'a.b.example.org:8000', ...auth } })).status,
      200,
    );
    assert.equal(
      (await rawRequest(t.baseUrl, { path: '/api/todos', headers: { host: 'example.org', ...auth } })).status,
      200,
    );
    assert.equal(
      (await rawRequest(t.baseUrl, { path: '/api/todos', headers: { host: 'notexample.org', ...auth } })).status,
      400,
    );
  });

  it('builds absolute URLs from a trusted proxy’s forwarded host and protocol', async () => {
    const created = await rawRequest(t.baseUrl, {
      path: '/api/todos',
      method: 'POST',
      headers: {
        authorization: `Bearer ${t.alice.token}`,
        host: 'internal:8000',
        'x-forwarded-host': 'todo.example.com',
        'x-forwarded-proto': 'https',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ title: 'via proxy' }),
    });
    assert.equal(created.status, 201, created.body);
    assert.match(JSON.parse(created.body).url, /^https:\/\/todo\.example\.com\/api\/todos\/\d+$/);
  });
});

describe('without TRUST_PROXY', () => {
  it('ignores forwarded headers', async () => {
    const t = await startTestApp('pglite', { ALLOWED_HOSTS: '*' });
    try {
      const created = await rawRequest(t.baseUrl, {
        path: '/api/todos',
        method: 'POST',
        headers: {
          authorization: `Bearer ${t.alice.token}`,
          host: 'direct.test:8000',
          'x-forwarded-host': 'spoofed.test',
          'x-forwarded-proto': 'https',
          'content-type': 'application/json',
        },
        body: JSON.stringify({ title: 'direct' }),
      });
      assert.match(JSON.parse(created.body).url, /^http:\/\/direct\.test:8000\/api\/todos\/\d+$/);
    } finally {
      await t.close();
    }
  });
});

describe('when the database goes away', () => {
  it('/healthz stays 200 and /readyz says why it is not ready, without the error text', async () => {
    const server = await startPostgresServer();
    const t = await startTestApp('postgres', {
      DATABASE_URL: server.url('postgres'),
      DB_CONNECT_TIMEOUT_S: '1',
      DB_RETRY_BUDGET_MS: '300',
    });
    const metricsListener = await startMetricsServer({ host: '127.0.0.1', port: 0, log: { error: () => {} } });
    try {
      assert.equal((await t.request('/readyz')).status, 200);
      await server.stop();
      assert.equal((await t.request('/healthz')).status, 200);
      const ready = await t.request('/readyz');
      assert.equal(ready.status, 503);
      // The probe is public: no host, port, user or driver message in it.
      assert.deepEqual(await ready.json(), { status: 'unavailable', reason: 'database unavailable' });
      // Requests that need the database get 503 with Retry-After, never a 500.
      const api = await t.request('/api/todos');
      assert.equal(api.status, 503);
      assert.ok(Number(api.headers.get('retry-after')) > 0);
      assert.deepEqual(await api.json(), { error: 'Service temporarily unavailable; please retry shortly' });
      const metrics = await (await fetch(`http://127.0.0.1:${metricsListener.port}/metrics`)).text();
      assert.match(metrics, /todoapp_db_query_errors_total\{kind="unavailable"\} [1-9]/);
    } finally {
      await metricsListener.close();
      await t.close().catch(() => {});
      await server.stop().catch(() => {});
    }
  });

  for (const debug of ['false', 'true']) {
    it(`an internal error shows ${debug === 'true' ? 'the stack with DEBUG=true' : 'no internals'}`, async () => {
      const t = await startTestApp('pglite', { DEBUG: debug });
      try {
        await t.db.close(); // every query now fails inside the app
        const api = await t.request('/api/todos');
        assert.equal(api.status, 500);
        const body = (await api.json()) as Record<string, unknown>;
        assert.equal(body.error, 'Internal server error');
        const page = await t.request('/', { headers: { accept: 'text/html' } });
        assert.equal(page.status, 500);
        const html = await page.text();
        if (debug === 'true') {
          assert.match(String(body.debug), /\.ts:\d+/);
        } else {
          assert.equal(body.debug, undefined);
          assert.doesNotMatch(JSON.stringify(body) + html, /\.ts:\d+|node_modules|PGlite|closed/i);
        }
      } finally {
        await t.close().catch(() => {});
      }
    });
  }

  it('readiness turns 503 as soon as shutdown begins', async () => {
    const t = await startTestApp('pglite');
    try {
      assert.equal((await t.request('/readyz')).status, 200);
      t.beginShutdown();
      const ready = await t.request('/readyz');
      assert.equal(ready.status, 503);
      assert.deepEqual(await ready.json(), { status: 'unavailable', reason: 'shutting down' });
    } finally {
      await t.close();
    }
  });
});
