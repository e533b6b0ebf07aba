// The account chores of the `todoapp` command, as a Kubernetes Job runs them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/database.ts';
import { freshDatabase, startTestApp, type TestDatabase } from '../support/app.ts';
import { runCli } from '../support/cli.ts';
import { pickFreePort } from '../support/ports.ts';

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
    const result = await runCli(['createsuperuser', '--username', 'root'], {
      ...database.env,
      TODOAPP_PASSWORD: 'correct horse battery staple',
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Created admin "root"/);
  });

  it('reads the password from standard input', async () => {
    const result = await runCli(['createsuperuser', '--username', 'ops'], database.env, 'another fine passphrase\n');
    assert.equal(result.code, 0, result.stderr);
  });

  it('fails clearly when the user exists or the password is weak', async () => {
    const exists = await runCli(['createsuperuser', '--username', 'ROOT'], {
      ...database.env,
      TODOAPP_PASSWORD: 'whatever long enough',
    });
    assert.equal(exists.code, 1);
    assert.match(exists.stderr, /already exists/);
    const weak = await runCli(['createsuperuser', '--username', 'weak'], {
      ...database.env,
      TODOAPP_PASSWORD: 'password',
    });
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
        (
          (await (await t.request('/api/todos', { headers: { authorization: `Bearer ${bearer}` } })).json()) as {
            title: string;
          }[]
        ).map((todo) => todo.title);
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

/** What a person must never see from the command: a stack, or the database's own words. */
function assertOneClearLine(stderr: string) {
  assert.equal(stderr.trim().split('\n').length, 1, `one line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /relation "|column "|syntax error|\bSELECT\b|\bINSERT\b|^\s+at |node_modules|\.ts:\d+/m);
}

describe('the account chores on a fresh embedded folder migrate first, as serve does', () => {
  const password = { TODOAPP_PASSWORD: 'correct horse battery staple' };
  it('createsuperuser', async () => {
    const database = await freshDatabase('pglite');
    try {
      const result = await runCli(['createsuperuser', '--username', 'admin'], { ...database.env, ...password });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Created admin "admin"/);
      const token = await runCli(['create-token', '--username', 'admin'], database.env);
      assert.equal(token.code, 0, token.stderr);
    } finally {
      await database.cleanup();
    }
  });

  for (const command of ['create-token', 'assign-legacy']) {
    it(command, async () => {
      const database = await freshDatabase('pglite');
      try {
        // The schema is made, so the answer is about the user, not a missing table.
        const result = await runCli([command, '--username', 'admin'], database.env);
        assert.equal(result.code, 1);
        assert.match(result.stderr, /^No user named "admin"\.\n$/);
      } finally {
        await database.cleanup();
      }
    });
  }
});

describe('the account chores on a fresh, unmigrated PostgreSQL database', () => {
  for (const args of [
    ['createsuperuser', '--username', 'admin'],
    ['create-token', '--username', 'admin'],
    ['assign-legacy', '--username', 'admin'],
  ]) {
    it(`${args[0]} names "todoapp migrate" and changes nothing`, async () => {
      const database = await freshDatabase('postgres');
      try {
        const result = await runCli(args, { ...database.env, TODOAPP_PASSWORD: 'correct horse battery staple' });
        assert.equal(result.code, 1);
        assert.match(result.stderr, /schema is behind.*Run "todoapp migrate" first/);
        assertOneClearLine(result.stderr);
        const db = await openDatabase(loadConfig(database.env));
        try {
          assert.equal(
            (await db.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)).length,
            0,
            'no table was made',
          );
        } finally {
          await db.close();
        }
      } finally {
        await database.cleanup();
      }
    });
  }
});

describe('a database error in the command', () => {
  it('is one clear line, without the driver’s text or a stack', async () => {
    const database = await freshDatabase('postgres');
    try {
      const url = new URL(database.env.DATABASE_URL ?? '');
      const missing = new URL(url);
      missing.pathname = '/no_such_database_here';
      const noDatabase = await runCli(['migrate', '--status'], {
        ...database.env,
        DATABASE_URL: missing.href,
        DB_RETRY_BUDGET_MS: '0',
      });
      assert.equal(noDatabase.code, 1);
      assert.match(
        noDatabase.stderr,
        /^todoapp migrate failed: the database named in DATABASE_URL or POSTGRES_DB does not exist \(SQLSTATE 3D000\)\.\n$/,
      );
      assertOneClearLine(noDatabase.stderr);

      const away = new URL(url);
      away.port = String(await pickFreePort());
      const unreachable = await runCli(['createsuperuser', '--username', 'admin'], {
        ...database.env,
        DATABASE_URL: away.href,
        DB_RETRY_BUDGET_MS: '0',
        TODOAPP_PASSWORD: 'correct horse battery staple',
      });
      assert.equal(unreachable.code, 1);
      assert.match(
        unreachable.stderr,
        /^todoapp createsuperuser failed: could not reach the database \(ECONNREFUSED\)/,
      );
      assertOneClearLine(unreachable.stderr);
    } finally {
      await database.cleanup();
    }
  });
});
