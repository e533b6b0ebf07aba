// The metrics listener of a real `todoapp serve`: /metrics on METRICS_PORT
// only (never on the public port), bound to HOST, off with METRICS_PORT=0,
// and closed with the app on shutdown.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { startServer } from '../../src/server.ts';
import { freshDatabase } from '../support/app.ts';
import { startCliServer } from '../support/cli.ts';
import { pickFreePort } from '../support/ports.ts';

/** The connection's failure code (e.g. ECONNREFUSED), or the status when something answered. */
async function statusOrFailure(url: string): Promise<number | string> {
  try {
    return (await fetch(url)).status;
  } catch (error) {
    return String(((error as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? error);
  }
}

describe('the metrics listener', () => {
  it('serves /metrics on METRICS_PORT, bound to HOST; the public port answers 404 for it', async () => {
    const database = await freshDatabase('pglite');
    // 127.0.0.2 is loopback too: a listener bound to it is not reachable on 127.0.0.1.
    const server = await startCliServer({ ...database.env, HOST: '127.0.0.2', ALLOWED_HOSTS: '*' });
    try {
      assert.equal((await fetch(`${server.baseUrl}/api/todos/123456`)).status, 401);
      const scraped = await fetch(`${server.metricsUrl}/metrics`);
      assert.equal(scraped.status, 200);
      assert.match(scraped.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const metrics = await scraped.text();
      assert.match(
        metrics,
        /todoapp_http_requests_total\{method="GET",route="\/api\/todos\/:id",status_code="401"\} 1/,
      );
      assert.match(
        metrics,
        /todoapp_http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/api\/todos\/:id",status_code="401"\}/,
      );
      assert.match(metrics, /process_resident_memory_bytes \d+/);
      assert.match(metrics, /# TYPE todoapp_db_query_errors_total counter/);
      // The app's own metrics carry its prefix; only prom-client's standard process_ and nodejs_ ones do not.
      const families = [...metrics.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1] ?? '');
      assert.deepEqual(
        families.filter((name) => !/^(todoapp|process|nodejs)_/.test(name)),
        [],
      );

      const publicMetrics = await fetch(`${server.baseUrl}/metrics`, { headers: { accept: 'text/plain' } });
      assert.equal(publicMetrics.status, 404, 'the public port does not serve the metrics');
      assert.doesNotMatch(await publicMetrics.text(), /todoapp_http_requests_total/);
      assert.equal((await fetch(`${server.metricsUrl}/healthz`)).status, 404, 'the metrics port serves nothing else');
      assert.equal(
        await statusOrFailure(`${server.metricsUrl.replace('127.0.0.2', '127.0.0.1')}/metrics`),
        'ECONNREFUSED',
        'bound to HOST only',
      );
      assert.equal(await server.stop(), 0, server.output());
      assert.equal(await statusOrFailure(`${server.metricsUrl}/metrics`), 'ECONNREFUSED', 'gone with the server');
    } finally {
      await server.stop();
      await database.cleanup();
    }
  });

  it('METRICS_PORT=0 turns it off', async () => {
    const database = await freshDatabase('pglite');
    const server = await startCliServer({ ...database.env, METRICS_PORT: '0' });
    try {
      assert.match(server.output(), /"metrics":"off"/);
      assert.equal((await fetch(`${server.baseUrl}/readyz`)).status, 200);
      assert.equal((await fetch(`${server.baseUrl}/metrics`)).status, 404);
    } finally {
      assert.equal(await server.stop(), 0, server.output());
      await database.cleanup();
    }
  });

  it('shutdown closes the metrics listener as well as the app', async () => {
    const database = await freshDatabase('pglite');
    const metricsPort = await pickFreePort();
    const running = await startServer(
      loadConfig({ ...database.env, PORT: '0', METRICS_PORT: String(metricsPort), LOG_LEVEL: 'silent' }),
    );
    try {
      assert.equal(running.metricsPort, metricsPort);
      assert.equal(await statusOrFailure(`http://127.0.0.1:${metricsPort}/metrics`), 200);
      await running.shutdown();
      assert.equal(await statusOrFailure(`http://127.0.0.1:${metricsPort}/metrics`), 'ECONNREFUSED');
      assert.equal(await statusOrFailure(`${running.address}/healthz`), 'ECONNREFUSED');
    } finally {
      await running.shutdown();
      await database.cleanup();
    }
  });
});
