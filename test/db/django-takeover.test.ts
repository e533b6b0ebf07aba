// Taking over the old Django app's database: every row of todolist_todolist
// survives `migrate` and is served by the API; the old table stays readable.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/database.ts';
import { ENGINES, freshDatabase, startTestApp, type TestDatabase } from '../support/app.ts';

// The table exactly as Django created it for the old app's model.
const DJANGO_SCHEMA = `
  CREATE TABLE "todolist_todolist" (
    "id" serial NOT NULL PRIMARY KEY,
    "title" varchar(250) NOT NULL,
    "content" text NOT NULL,
    "created" date NOT NULL,
    "due_date" date NOT NULL
  );
  INSERT INTO todolist_todolist (title, content, created, due_date) VALUES
    ('Buy milk', 'two litres', '2021-03-01', '2021-03-02'),
    ('File taxes <b>now</b>', '', '2021-03-05', '2021-04-30'),
    ('Call mum', 'about Sunday', '2021-03-07', '2021-03-07');
  DELETE FROM todolist_todolist WHERE title = 'Buy milk';
  INSERT INTO todolist_todolist (title, content, created, due_date) VALUES ('Buy milk again', '', '2021-03-08', '2021-03-09');
`;

for (const engine of ENGINES) {
  describe(`taking over the Django table on ${engine}`, () => {
    let database: TestDatabase;
    before(async () => {
      database = await freshDatabase(engine);
      const db = await openDatabase(loadConfig(database.env));
      await db.execScript(DJANGO_SCHEMA);
      await db.close();
    });
    after(() => database.cleanup());

    it('keeps every row, with its id, and serves it newest first', async () => {
      const t = await startTestApp(engine, database.env, { reuseDatabase: true });
      try {
        const response = await t.request('/api/todos');
        assert.equal(response.status, 200);
        const todos = (await response.json()) as {
          id: number;
          title: string;
          notes: string;
          dueDate: string;
          createdAt: string;
          completed: boolean;
        }[];
        assert.deepEqual(
          todos.map(({ id, title, notes, dueDate, createdAt, completed }) => ({
            id,
            title,
            notes,
            dueDate,
            createdAt,
            completed,
          })),
          [
            {
              id: 4,
              title: 'Buy milk again',
              notes: '',
              dueDate: '2021-03-09',
              createdAt: '2021-03-08T00:00:00.000Z',
              completed: false,
            },
            {
              id: 3,
              title: 'Call mum',
              notes: 'about Sunday',
              dueDate: '2021-03-07',
              createdAt: '2021-03-07T00:00:00.000Z',
              completed: false,
            },
            {
              id: 2,
              title: 'File taxes <b>now</b>',
              notes: '',
              dueDate: '2021-04-30',
              createdAt: '2021-03-05T00:00:00.000Z',
              completed: false,
            },
          ],
        );
        // New todos get fresh ids after the old ones.
        const created = await t.request('/api/todos', { method: 'POST', json: { title: 'new' } });
        assert.equal(((await created.json()) as { id: number }).id, 5);
        // The old table is still there, untouched, for a rollback.
        const old = await t.db.query<{ count: number }>('SELECT count(*)::int AS count FROM todolist_todolist');
        assert.equal(old[0]?.count, 3);
      } finally {
        await t.close();
      }
    });
  });
}
