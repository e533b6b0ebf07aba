// The account chores of the `todoapp` command, as a Kubernetes Job runs them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/database.ts';
import { freshDatabase, startTestApp, type TestDatabase } from '../support/app.ts';
import { runCli } from '../support/cli.ts';

describe('createsuperuser, create-token and assign-legacy', () => {
  let database: TestDatabase;
  before(async () => {
    database = await freshDatabase('postgres');
    // An old Django table with two rows to take over.
    const db = await openDatabase(loadConfig(database.env));
    await db.execScript(`CREATE TABLE todolist_todolist (id serial PRIMARY KEY, title varchar(250) NOT NULL, content text NOT NULL, created date NOT NULL, due_date date NOT NULL);
      INSERT INTO todolist_todolist (title, content, created, due_date) VALUES ('old one', '', '2020-01-01', '2020-01-02'), ('old two', '', '2020-01-03', '2020-01-04');`);
    await db.close();
    assert.equal((await runCli(['migrate'], database.env)).code, 0);
  });
  after(() => database.cleanup());

  it('creates an admin with the password from TODOAPP_PASSWORD, who receives the old todos', async () => {
    const result = await runCli(['createsuperuser', '--username', 'root'], { ...database.env, TODOAPP_PASSWORD: 'correct horse battery staple' });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Created admin "root"/);
  });

  it('reads the password from standard input', async () => {
    const result = await runCli(['createsuperuser', '--username', 'ops'], database.env, 'another fine passphrase\n');
    assert.equal(result.code, 0, result.stderr);
  });

  it('fails clearly when the user exists or the password is weak', async () => {
    const exists = await runCli(['createsuperuser', '--username', 'ROOT'], { ...database.env, TODOAPP_PASSWORD: 'whatever long enough' });
    assert.equal(exists.code, 1);
    assert.match(exists.stderr, /already exists/);
    const weak = await runCli(['createsuperuser', '--username', 'weak'], { ...database.env, TODOAPP_PASSWORD: 'password' });
    assert.equal(weak.code, 1);
    assert.match(weak.stderr, /too common/);
    const missing = await runCli(['createsuperuser'], database.env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--username/);
  });

  it('prints a working API token once; legacy todos move with assign-legacy', async () => {
    const token = await runCli(['create-token', '--username', 'root', '--name', 'ci'], database.env);
    assert.equal(token.code, 0, token.stderr);
    const value = token.stdout.trim();
    assert.match(value, /^[A-Za-z0-9_-]{40,}$/);
    const opsToken = (await runCli(['create-token', '--username', 'ops'], database.env)).stdout.trim();
    assert.equal((await runCli(['create-token', '--username', 'nobody'], database.env)).code, 1);

    const t = await startTestApp('postgres', database.env, { reuseDatabase: true, migrate: false });
    try {
      const titles = async (bearer: string) =>
        ((await (await t.request('/api/todos', { headers: { authorization: `Bearer ${bearer}` } })).json()) as { title: string }[]).map((todo) => todo.title);
      assert.deepEqual(await titles(value), ['old two', 'old one'], 'the first admin got the old todos');
      assert.deepEqual(await titles(opsToken), []);
      const moved = await runCli(['assign-legacy', '--username', 'ops'], database.env);
      assert.equal(moved.code, 0, moved.stderr);
      assert.match(moved.stdout, /Gave 2 todo\(s\)/);
      assert.deepEqual(await titles(opsToken), ['old two', 'old one']);
      assert.deepEqual(await titles(value), []);
    } finally {
      await t.close();
    }
  });
});
