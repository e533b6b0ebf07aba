// The request log of a real `todoapp serve` at LOG_LEVEL=info, as it ships:
// one JSON line per request, written after the answer, out within a second
// (lines are buffered) and never lost when the process stops.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freshDatabase } from '../support/app.ts';
import { startCliServer, type CliServer } from '../support/cli.ts';

describe('the request log', () => {
  let server: CliServer;
  let cleanup: () => Promise<void>;

  before(async () => {
    const database = await freshDatabase('pglite');
    cleanup = database.cleanup;
    server = await startCliServer({ ...database.env, LOG_LEVEL: 'info' });
  });
  after(async () => {
    await server.stop();
    await cleanup();
  });

  it('has exactly one line per request, with method, url, status and time, out within a second and all there when the server stops', async () => {
    const requests = [
      { path: '/login', status: 200 },
      { path: '/api/todos', status: 401 },
      { path: '/nowhere?x=1', status: 404 },
    ];
    for (let round = 0; round < 20; round++) {
      for (const { path } of requests)
        await (await fetch(`${server.baseUrl}${path}`, { headers: { host: 'localhost' } })).arrayBuffer();
    }
    // Lines are buffered, but leave within a second while the server runs.
    const requestLines = () =>
      server
        .output()
        .split('\n')
        .filter((line) => line.includes('"msg":"request"')).length;
    for (let waited = 0; requestLines() < 60 && waited < 3000; waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(requestLines(), 60, 'request lines out while the server runs');
    assert.equal(await server.stop(), 0);
    const lines = server
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map(
        (line) =>
          JSON.parse(line) as {
            msg: string;
            method?: string;
            url?: string;
            status?: number;
            ms?: number;
            reqId?: string;
          },
      );
    assert.equal(
      lines.filter((line) => /incoming request|request completed/.test(line.msg)).length,
      0,
      'Fastify’s own two lines per request',
    );
    const logged = lines.filter((line) => line.msg === 'request');
    assert.equal(logged.length, 60);
    for (const { path, status } of requests) {
      const mine = logged.filter((line) => line.url === path);
      assert.equal(mine.length, 20, path);
      assert.ok(
        mine.every(
          (line) =>
            line.method === 'GET' &&
            line.status === status &&
            typeof line.ms === 'number' &&
            typeof line.reqId === 'string',
        ),
        JSON.stringify(mine[0]),
      );
    }
    assert.ok(lines.at(-1)?.msg === 'shut down cleanly', `last line: ${JSON.stringify(lines.at(-1))}`);
  });
});
