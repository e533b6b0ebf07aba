// The `todoapp` command as operators run it: migrate, migrate --status, serve,
// the embedded database's lock, and configuration errors.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { loadMigrations } from '../src/db/migrate.ts';
import { freshDatabase, type TestDatabase } from './support/app.ts';
import { runCli, startCliServer } from './support/cli.ts';

const migrationCount = (await loadMigrations()).length;

describe('todoapp migrate on PostgreSQL', () => {
  let database: TestDatabase;
  before(async () => {
    database = await freshDatabase('postgres');
  });
  after(() => database.cleanup());

  it('serve refuses a schema that is behind and names the fix', async () => {
    const result = await runCli(['serve'], { ...database.env, PORT: '0' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /schema is behind.*todoapp migrate/s);
  });

  it('migrate --status lists pending migrations', async () => {
    const result = await runCli(['migrate', '--status'], database.env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /pending {2}0001_create_todos/);
    assert.match(result.stdout, new RegExp(`0 applied, ${migrationCount} pending`));
  });

  it('three migrate processes at once: exactly one applies, all succeed', async () => {
    const results = await Promise.all([1, 2, 3].map(() => runCli(['migrate'], database.env)));
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    const appliers = results.filter((result) => /Applied \d+ migration/.test(result.stdout));
    assert.equal(appliers.length, 1, results.map((result) => result.stdout).join('\n---\n'));
    assert.equal(results.filter((result) => /up to date/.test(result.stdout)).length, 2);
    const sql = postgres(database.env.DATABASE_URL ?? '', { max: 1, onnotice: () => {} });
    try {
      const rows = await sql`SELECT version FROM schema_migrations`;
      assert.equal(rows.length, migrationCount);
    } finally {
      await sql.end();
    }
  });

  it('migrate --status then lists them as applied', async () => {
    const result = await runCli(['migrate', '--status'], database.env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /applied {2}0001_create_todos {2}\d{4}-/);
    assert.match(result.stdout, new RegExp(`${migrationCount} applied, 0 pending`));
  });
});

describe('a schema one release ahead (a rolling update, after the new release migrated)', () => {
  it('the running version stays ready and keeps serving; only its migrate refuses', async () => {
    const database = await freshDatabase('postgres');
    const sql = postgres(database.env.DATABASE_URL ?? '', { max: 1, onnotice: () => {} });
    try {
      assert.equal((await runCli(['migrate'], database.env)).code, 0);
      const server = await startCliServer(database.env);
      await sql`INSERT INTO schema_migrations (version, name, checksum) VALUES ('9999', 'from_the_future', 'x')`;
      const ready = await fetch(`${server.baseUrl}/readyz`);
      assert.equal(ready.status, 200, await ready.text());
      assert.equal(await server.stop(), 0);
      const status = await runCli(['migrate', '--status'], database.env);
      assert.match(status.stdout, /newer {4}9999_from_the_future .*newer version of todoapp/);
      const restarted = await startCliServer(database.env);
      assert.equal(
        (await fetch(`${restarted.baseUrl}/readyz`)).status,
        200,
        'an old pod restarting mid-rollout starts',
      );
      await restarted.stop();
      const migrate = await runCli(['migrate'], database.env);
      assert.equal(migrate.code, 1);
      assert.match(migrate.stderr, /9999_from_the_future, which this version of todoapp does not know/);
    } finally {
      await sql.end();
      await database.cleanup();
    }
  });
});

describe('serve with MIGRATE_ON_START on PostgreSQL', () => {
  it('migrates and serves', async () => {
    const database = await freshDatabase('postgres');
    try {
      const server = await startCliServer({ ...database.env, MIGRATE_ON_START: 'true' });
      const response = await fetch(`${server.baseUrl}/readyz`);
      assert.equal(response.status, 200);
      assert.equal(await server.stop(), 0);
    } finally {
      await database.cleanup();
    }
  });
});

describe('the embedded database', () => {
  let database: TestDatabase;
  before(async () => {
    database = await freshDatabase('pglite');
  });
  after(() => database.cleanup());

  it('migrate works while no server runs', async () => {
    const first = await runCli(['migrate'], database.env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /Applied/);
    const second = await runCli(['migrate'], database.env);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /up to date/);
  });

  it('is held by one process: a second server or a CLI command stops with a clear message', async () => {
    const server = await startCliServer(database.env);
    try {
      const migrate = await runCli(['migrate', '--status'], database.env);
      assert.equal(migrate.code, 1);
      assert.match(migrate.stderr, /in use by another todoapp process/);
      const second = await runCli(['serve'], { ...database.env, PORT: '0', METRICS_PORT: '0' });
      assert.equal(second.code, 1);
      assert.match(second.stderr, /in use by another todoapp process/);
      // The first server is unharmed.
      assert.equal((await fetch(`${server.baseUrl}/readyz`)).status, 200);
    } finally {
      assert.equal(await server.stop(), 0);
    }
    const after = await runCli(['migrate', '--status'], database.env);
    assert.equal(after.code, 0, `the lock is released on shutdown: ${after.stderr}`);
  });
});

describe('a restart right after a crash of the embedded server', () => {
  it('kill -9, then serve again at once: up within a few seconds, not refused for the stale lock', async () => {
    const database = await freshDatabase('pglite');
    try {
      const first = await startCliServer(database.env);
      assert.equal((await fetch(`${first.baseUrl}/readyz`)).status, 200);
      assert.equal(await first.stop('SIGKILL'), null, 'killed, not exited');
      const killedAt = performance.now();
      // What a supervisor does: start again at once. The old lock is fresh
      // (its mtime is less than a second old), but its holder is gone.
      const second = await startCliServer(database.env);
      try {
        const readyAfterMs = performance.now() - killedAt;
        assert.equal((await fetch(`${second.baseUrl}/readyz`)).status, 200);
        assert.ok(readyAfterMs < 8000, `ready ${Math.round(readyAfterMs)} ms after the kill`);
        // While it lives, its lock holds.
        const third = await runCli(['serve'], { ...database.env, PORT: '0', METRICS_PORT: '0' });
        assert.equal(third.code, 1);
        assert.match(third.stderr, /^The embedded database in .* is in use by another todoapp process/);
      } finally {
        assert.equal(await second.stop(), 0, second.output());
      }
    } finally {
      await database.cleanup();
    }
  });
});

describe('configuration errors', () => {
  it('a wrong value stops the process with a message naming the variable', async () => {
    for (const [variable, value] of [
      ['PORT', 'eighty'],
      ['LOG_LEVEL', 'loud'],
      ['DEBUG', 'maybe'],
      ['DATABASE_URL', 'mysql://x'],
    ] as const) {
      const result = await runCli(['serve'], { [variable]: value });
      assert.equal(result.code, 2, `${variable}=${value}`);
      assert.match(result.stderr, new RegExp(`\\b${variable}\\b`));
    }
  });

  it('an unknown command prints the usage', async () => {
    const result = await runCli(['frobnicate'], {});
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Unknown command "frobnicate"[\s\S]*Usage: todoapp/);
  });
});
