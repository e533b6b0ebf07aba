// Database.transaction on both engines: a statement the work sends without
// waiting for it (as the idempotent writes do with their last one, so that it
// travels with the COMMIT) still belongs to the transaction.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ENGINES, startTestApp, type TestApp } from '../support/app.ts';

for (const engine of ENGINES) {
  describe(`a transaction on ${engine}`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(engine);
      await t.db.execScript('CREATE TABLE tx_probe (id integer PRIMARY KEY, note text NOT NULL)');
    });
    after(() => t.close());

    const notes = async () =>
      (await t.db.query<{ note: string }>('SELECT note FROM tx_probe ORDER BY id')).map((row) => row.note);

    it('commits a last statement nobody waited for', async () => {
      await t.db.transaction(async (tx) => {
        await tx.query('INSERT INTO tx_probe (id, note) VALUES (1, $1)', ['awaited']);
        void tx.query('INSERT INTO tx_probe (id, note) VALUES (2, $1)', ['sent with the commit']);
      });
      assert.deepEqual(await notes(), ['awaited', 'sent with the commit']);
    });

    it('fails, and keeps nothing, when a statement nobody waited for fails', async () => {
      await assert.rejects(
        t.db.transaction(async (tx) => {
          await tx.query('INSERT INTO tx_probe (id, note) VALUES (3, $1)', ['rolled back']);
          void tx.query('INSERT INTO tx_probe (id, note) VALUES (1, $1)', ['a duplicate key']);
          return 'seemed fine';
        }),
        (error: { code?: string }) => error.code === '23505',
      );
      assert.deepEqual(await notes(), ['awaited', 'sent with the commit']);
    });
  });
}
