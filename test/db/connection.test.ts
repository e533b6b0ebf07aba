// A multi-host DATABASE_URL: the app finds the primary among the hosts, even
// when the first one is down.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestDatabase } from '../support/postgres.ts';
import { pickFreePort } from '../support/ports.ts';
import { startTestApp } from '../support/app.ts';

describe('a multi-host DATABASE_URL', () => {
  it('connects to the host that answers as primary', async () => {
    const database = await createTestDatabase();
    const deadPort = await pickFreePort(); // nothing listens there
    const url = new URL(database.url);
    const multiHost = `postgres://${url.username}@127.0.0.1:${deadPort},${url.host}${url.pathname}?target_session_attrs=primary`;
    const t = await startTestApp('postgres', { DATABASE_URL: multiHost });
    try {
      const created = await t.request('/api/todos', { method: 'POST', json: { title: 'reached the primary' } });
      assert.equal(created.status, 201);
      assert.equal((await t.request('/readyz')).status, 200);
    } finally {
      await t.close();
      await database.drop();
    }
  });
});
