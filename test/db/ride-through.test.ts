// A PostgreSQL server that goes away and comes back within the retry budget
// (DB_RETRY_BUDGET_MS): requests made meanwhile wait and then succeed — no
// 503, no duplicate — whether the server crashed or was stopped by an operator.
// (test/ha/ does the same with a real failover to a standby.)
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestApp, type TestApp, type TodoJson } from '../support/app.ts';
import { startPostgresServer, type PostgresServer } from '../support/postgres.ts';

describe('a database restart within the retry budget', () => {
  let server: PostgresServer;
  let t: TestApp;
  before(async () => {
    // Durable, unlike the other tests' servers: a crash must not lose what was acknowledged.
    server = await startPostgresServer({ settings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } });
    t = await startTestApp('postgres', {
      DATABASE_URL: server.url('postgres'),
      DB_RETRY_BUDGET_MS: '20000',
      DB_CONNECT_TIMEOUT_S: '2',
    });
  });
  after(async () => {
    await t?.close().catch(() => {});
    await server?.stop();
  });

  for (const mode of ['immediate', 'fast'] as const) {
    it(`goes unnoticed by requests made while it is down (pg_ctl stop -m ${mode})`, async () => {
      assert.equal((await t.request('/api/todos', { method: 'POST', json: { title: 'before' } })).status, 201);
      const before = (await (await t.request('/api/todos')).json()) as TodoJson[];

      await server.halt(mode);
      const titles = Array.from({ length: 5 }, (_, i) => `${mode} ${i}`);
      const writes = titles.map((title) =>
        t.request('/api/todos', { method: 'POST', json: { title }, headers: { 'idempotency-key': randomUUID() } }),
      );
      const reads = Array.from({ length: 3 }, () => t.request('/api/todos'));
      await sleep(1500);
      await server.resume();

      const written = await Promise.all(writes);
      assert.deepEqual(
        written.map((response) => response.status),
        Array(5).fill(201),
      );
      for (const read of await Promise.all(reads)) assert.equal(read.status, 200);
      const afterwards = (await (await t.request('/api/todos')).json()) as TodoJson[];
      assert.equal(afterwards.length, before.length + titles.length, 'each write stored exactly once');
      assert.deepEqual(
        afterwards
          .map((todo) => todo.title)
          .filter((title) => title.startsWith(mode))
          .sort(),
        titles,
      );
    });
  }
});
