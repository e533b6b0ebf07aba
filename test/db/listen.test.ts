// The feed's wake-up connection (LISTEN) outlives a database restart that
// lasts longer than one reconnection attempt, and closes with the database.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { openServerDatabase } from '../../src/db/postgres.ts';
import type { Database } from '../../src/db/database.ts';
import { startPostgresServer, type PostgresServer } from '../support/postgres.ts';

const DB_OPTIONS = { poolSize: 2, connectTimeoutSeconds: 2, statementTimeoutMs: 5000, retryBudgetMs: 5000 };

async function until(condition: () => boolean, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('LISTEN on the server engine', () => {
  let server: PostgresServer;
  let db: Database;
  before(async () => {
    server = await startPostgresServer();
    db = openServerDatabase(server.url(), DB_OPTIONS);
  });
  after(async () => {
    await db?.close();
    await server?.stop();
  });

  async function notify(channel: string) {
    const other = postgres(server.url(), { max: 1, onnotice: () => {} });
    try {
      await other`select pg_notify(${channel}, '')`;
    } finally {
      await other.end();
    }
  }

  it('listens again after the server was away for seconds, and hears what is sent then', async () => {
    let notified = 0;
    let listening = 0;
    const handle = await db.listen(
      'wake "me"',
      () => notified++,
      () => listening++,
    );
    assert.equal(listening, 1, 'listening once the first LISTEN is answered');
    await notify('wake "me"');
    await until(() => notified === 1, 'the first notification');
    await notify('someone else');

    await server.halt('immediate');
    await sleep(2500); // many failed attempts: postgres.js's own listen gives up after the first
    await server.resume();
    await until(() => listening === 2, 'listening again');
    await notify('wake "me"');
    await until(() => notified === 2, 'a notification after the restart');
    assert.equal(listening, 2);

    await handle.stop();
    await notify('wake "me"');
    await sleep(200);
    assert.equal(notified, 2, 'nothing after stop');
  });

  it('is ended by close(), even while the server is away', async () => {
    const other = openServerDatabase(server.url(), DB_OPTIONS);
    await other.listen(
      'closing',
      () => {},
      () => {},
    );
    await server.halt('immediate');
    const closing = other.close();
    await server.resume();
    await closing; // the test runner would report an open handle, or hang, if the listener kept retrying
  });
});
