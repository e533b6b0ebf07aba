// The backup drill of docs/backups.md, for real: the Barman Cloud tools the
// CloudNativePG plugin runs (Debian's barman-cli-cloud) archive a durable
// PostgreSQL 15's WAL and a base backup into a real S3 server (s3rver); then a
// new server is restored to a point in time between two writes, the app is
// started on it, and the API shows exactly the todos written before that time.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { startTestApp, TEST_SECRET_KEY, type TestApp, type TodoJson } from '../support/app.ts';
import { startPostgresServer, type PostgresServer } from '../support/postgres.ts';
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from '../support/s3.ts';

const BARMAN_TOOLS = ['backup', 'backup-list', 'restore', 'wal-archive', 'wal-restore'].map(
  (tool) => `/usr/bin/barman-cloud-${tool}`,
);
/** The server's folder in the bucket, as CloudNativePG names it after the cluster. */
const SERVER_NAME = 'todoapp';
/** The harness turns these off for speed; a backup drill needs what production has. */
const DURABLE = { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' };

const asRoot = process.getuid?.() === 0;
const postgresUser = () => {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
};

/** Runs a Barman Cloud tool as the server's user (it reads and writes the data dir), with the store's credentials. */
function barman(tool: string, args: string[]): Promise<string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PG')));
  const user = asRoot ? postgresUser() : {};
  return new Promise((resolve, reject) => {
    execFile(
      `/usr/bin/barman-cloud-${tool}`,
      args,
      { env: { ...env, ...S3RVER_CREDENTIALS, HOME: tmpdir() }, cwd: tmpdir(), timeout: 120_000, ...user },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`barman-cloud-${tool} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

/** The one value a query answers, on a connection of its own. */
async function scalar<T>(url: string, query: string): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql.unsafe<{ value: T }[]>(query);
    return row?.value as T;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs / 1000} s waiting for ${what}.`);
    await sleep(100);
  }
}

const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

it(
  'Barman Cloud: base backup, WAL archive, point-in-time restore into a new server',
  { timeout: 300_000 },
  async (t) => {
    const missing = BARMAN_TOOLS.filter((file) => !existsSync(file));
    assert.deepEqual(
      missing,
      [],
      `barman-cli-cloud is not installed (no ${missing.join(', ')}): apt-get install barman-cli-cloud ` +
        '(npm test installs it when run as root on Debian).',
    );

    // Everything started is ended in reverse order, also on failure; `end` ends one part early, once.
    const cleanups: (() => Promise<void>)[] = [];
    const enders = new Map<object, () => Promise<void>>();
    const track = <T extends { stop(): Promise<void> } | { close(): Promise<void> }>(part: T): T => {
      let ended: Promise<void> | undefined;
      const ender = () => (ended ??= 'stop' in part ? part.stop() : part.close());
      cleanups.push(ender);
      enders.set(part, ender);
      return part;
    };
    const end = (part: object) => enders.get(part)?.();
    try {
      const s3: S3Server = track(await startS3Server('backups'));
      const store = (...rest: string[]) => ['--endpoint-url', s3.endpoint, `s3://${s3.bucket}/`, SERVER_NAME, ...rest];
      const quoted = store().join(' ');
      const primary: PostgresServer = track(
        await startPostgresServer({
          env: S3RVER_CREDENTIALS,
          settings: {
            ...DURABLE,
            wal_level: 'replica',
            archive_mode: 'on',
            archive_command: `/usr/bin/barman-cloud-wal-archive ${quoted} %p`,
          },
        }),
      );
      await scalar(primary.url(), 'CREATE DATABASE todoapp');
      const dataDir = await mkdtemp(path.join(tmpdir(), 'todoapp-drill-'));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      const appEnv = (url: string) => ({ DATABASE_URL: url, SECRET_KEY: TEST_SECRET_KEY, DATA_DIR: dataDir });
      const app: TestApp = track(
        await startTestApp('postgres', appEnv(primary.url('todoapp')), { reuseDatabase: true }),
      );
      const token = app.alice.token;
      const write = async (titles: string[]) => {
        for (const title of titles) {
          const response = await app.request('/api/todos', { method: 'POST', json: { title } });
          assert.equal(response.status, 201, await response.text());
        }
      };
      const batch = (name: string) => [1, 2, 3, 4, 5].map((n) => `${name} ${n}`);

      await write(batch('before the backup'));
      let started = performance.now();
      await barman('backup', [
        '--endpoint-url',
        s3.endpoint,
        '-h',
        '127.0.0.1',
        '-p',
        String(primary.port),
        '-U',
        'postgres',
        '--immediate-checkpoint',
        `s3://${s3.bucket}/`,
        SERVER_NAME,
      ]);
      const backupTime = seconds(started);
      await write(batch('after the backup'));
      // The target is read from the server's clock, which stamps the commits, a clear second from both sides.
      await sleep(1_000);
      const target = await scalar<string>(primary.url(), 'SELECT clock_timestamp()::text AS value');
      await sleep(1_000);
      await write(batch('after the target'));
      // Recovery must find a commit after the target in the archive, or it ends before reaching it.
      started = performance.now();
      const wal = await scalar<string>(primary.url(), 'SELECT pg_walfile_name(pg_switch_wal()) AS value');
      await waitFor(
        `WAL ${wal} in pg_stat_archiver`,
        async () =>
          ((await scalar<string | null>(primary.url(), 'SELECT last_archived_wal AS value FROM pg_stat_archiver')) ??
            '') >= wal,
      );
      const archiveTime = seconds(started);
      // Disaster: the primary and its disk are gone; only the bucket is left.
      await end(app);
      await end(primary);

      const list = JSON.parse(await barman('backup-list', [...store(), '--format', 'json'])) as {
        backups_list: { backup_id: string; status: string }[];
      };
      const backupId = list.backups_list.find((backup) => backup.status === 'DONE')?.backup_id;
      assert.ok(backupId, `no finished backup in the bucket: ${JSON.stringify(list)}`);

      let restoreTime = '';
      started = performance.now();
      const restored: PostgresServer = track(
        await startPostgresServer({
          env: S3RVER_CREDENTIALS,
          settings: {
            ...DURABLE,
            // Not into the first server's folder: a restored server archives under a name of its own, if at all.
            archive_mode: 'off',
            restore_command: `/usr/bin/barman-cloud-wal-restore ${quoted} %f %p`,
            recovery_target_time: target,
            recovery_target_action: 'promote',
          },
          async createDataDir(dir) {
            const restoreStarted = performance.now();
            await barman('restore', store(backupId, dir));
            restoreTime = seconds(restoreStarted);
            await writeFile(path.join(dir, 'recovery.signal'), '');
            if (asRoot) await chown(path.join(dir, 'recovery.signal'), postgresUser().uid, postgresUser().gid);
            await chmod(dir, 0o700);
          },
        }),
      );
      // pg_ctl -w returns once the standby accepts connections, before it reaches the target and promotes.
      await waitFor(
        'the restored server to leave recovery',
        async () => (await scalar<boolean>(restored.url(), 'SELECT pg_is_in_recovery() AS value')) === false,
      );
      const recoveryTime = seconds(started);
      const log = await readFile(restored.logFile, 'utf8');
      const walFetched = log.match(/restored log file/g)?.length ?? 0;

      // The restored database has the schema and the accounts: no migration, and alice's old token works.
      const restoredApp = track(
        await startTestApp('postgres', appEnv(restored.url('todoapp')), { reuseDatabase: true, migrate: false }),
      );
      const response = await restoredApp.request('/api/todos', { headers: { authorization: `Bearer ${token}` } });
      assert.equal(response.status, 200, await response.clone().text());
      const titles = ((await response.json()) as TodoJson[]).map((todo) => todo.title).sort();
      assert.deepEqual(
        titles,
        [...batch('before the backup'), ...batch('after the backup')].sort(),
        `exactly the todos committed before ${target}\n--- restored server's log ---\n${log}`,
      );

      // One WAL fetch, timed alone, exactly as restore_command runs it.
      started = performance.now();
      const fetched = path.join(dataDir, 'fetched-wal');
      if (asRoot) await chown(dataDir, postgresUser().uid, postgresUser().gid);
      await barman('wal-restore', store(wal, fetched));
      const walFetchTime = seconds(started);
      t.diagnostic(
        `base backup ${backupTime}; WAL switch to archived ${archiveTime}; barman-cloud-restore ${restoreTime}; ` +
          `restore + recovery to promoted ${recoveryTime} (${walFetched} WAL file(s) fetched); one WAL fetch ${walFetchTime}`,
      );
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup().catch((error: Error) => t.diagnostic(error.message));
    }
  },
);
