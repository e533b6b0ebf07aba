// A plain PostgreSQL 15 primary and a streaming standby (pg_basebackup -R), no
// HA manager: the test drives promotion itself, as an operator does with
// `pg_ctl promote`, so the moment of promotion is deterministic. Runs as the
// `postgres` user in a temp dir, on 127.0.0.1 ports below 32768, durability
// settings left at their safe defaults.
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pickFreePort } from '../support/ports.ts';
import { confLines } from '../support/postgres.ts';
import {
  cleanUpOnExit,
  createAppDatabase,
  giveToServiceUser,
  POSTGRES_BIN_DIR,
  randomPassword,
  readPostmasterPid,
  runAsService,
  stopPostgresNow,
  waitFor,
  withConnection,
  type DatabaseAccess,
} from './processes.ts';

export interface StreamingPairOptions {
  /**
   * synchronous_standby_names on the primary names the standby, so a commit
   * waits for it. Set before the standby is cloned, on purpose: the clone then
   * carries the setting too, the trap promote() has to defuse.
   */
  synchronous?: boolean;
  /** Parent dir for the pair's temp dir (default: the OS temp dir). */
  baseDir?: string;
}

export interface PairNode {
  /** `primary` or `standby`: the roles they start in (and their application_name). */
  name: string;
  port: number;
  dataDir: string;
  logFile: string;
}

/** url() and an app database's url name the current primary (the standby once promoted). */
export interface StreamingPair extends DatabaseAccess<PairNode> {
  primary: PairNode;
  standby: PairNode;
  /** Waits until the standby streams from the primary (synchronously, in a synchronous pair). */
  waitForStandby(options?: { timeoutMs?: number }): Promise<void>;
  /** Signals the primary's postmaster (SIGKILL: a crash). */
  killPrimary(signal?: NodeJS.Signals): Promise<{ pid: number; at: number }>;
  /** Promotes the standby (`pg_ctl promote`, waiting until it accepts writes); `ms` is how long that took. */
  promote(): Promise<{ ms: number }>;
  /** Stops both servers and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

const bin = (name: string) => path.join(POSTGRES_BIN_DIR, name);

/** Starts a server on a free port, trying others when the one picked is taken by the time it binds. */
async function startOnFreePort(dataDir: string, logFile: string, cwd: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const port = await pickFreePort();
    await rm(logFile, { force: true });
    try {
      await runAsService(
        bin('pg_ctl'),
        ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-s', '-o', `-p ${port}`],
        { cwd },
      );
      return port;
    } catch (error) {
      await stopPostgresNow(dataDir, cwd);
      const log = await readFile(logFile, 'utf8').catch(() => '');
      if (/could not bind|could not create any TCP\/IP sockets|already in use/i.test(log) && attempt < 10) continue;
      throw new Error(`PostgreSQL did not start: ${(error as Error).message}\n--- server log ---\n${log}`, {
        cause: error,
      });
    }
  }
}

export async function startStreamingPair(options: StreamingPairOptions = {}): Promise<StreamingPair> {
  const parent = options.baseDir ?? tmpdir();
  const baseDir = await mkdtemp(path.join(parent, 'todoapp-pair-'));
  await giveToServiceUser(baseDir);
  const node = (name: string): PairNode => ({
    name,
    port: 0,
    dataDir: path.join(baseDir, name, 'data'),
    logFile: path.join(baseDir, `${name}.log`),
  });
  const primary = node('primary');
  const standby = node('standby');
  const cleanup = cleanUpOnExit({
    processes: () => [],
    dataDirs: [primary.dataDir, standby.dataDir],
    baseDir,
    keepFiles: false,
  });
  const passwords = { superuser: randomPassword(), replication: randomPassword() };
  let current = primary;

  const nodeUrl = (target: PairNode, database = 'postgres') =>
    `postgres://postgres:${passwords.superuser}@127.0.0.1:${target.port}/${encodeURIComponent(database)}`;
  const hosts = () => `127.0.0.1:${primary.port},127.0.0.1:${standby.port}`;
  const url = (database = 'postgres') => nodeUrl(current, database);
  const directUrl = (database = 'postgres') =>
    `postgres://postgres:${passwords.superuser}@${hosts()}/${encodeURIComponent(database)}?target_session_attrs=primary`;

  const waitForStandby = async ({ timeoutMs = 60_000 } = {}) => {
    await waitFor(`the standby to stream${options.synchronous ? ' synchronously' : ''}`, timeoutMs, async () => {
      const rows = await withConnection(
        nodeUrl(primary),
        (sql) =>
          sql`SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby' AND state = 'streaming'`,
      );
      return rows.length === 1 && (!options.synchronous || rows[0]?.sync_state === 'sync') ? true : undefined;
    });
  };

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await Promise.all([primary, standby].map((target) => stopPostgresNow(target.dataDir, baseDir)));
      cleanup.done();
      await rm(baseDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    for (const target of [primary, standby]) {
      await mkdir(path.dirname(target.dataDir), { mode: 0o700 });
      await giveToServiceUser(path.dirname(target.dataDir));
    }
    // The replication password reaches pg_basebackup and the standby's walreceiver through a
    // passfile, never a command line or the environment.
    const passfile = path.join(baseDir, 'pgpass');
    const pwfile = path.join(baseDir, 'superuser-password');
    await writeFile(passfile, `127.0.0.1:*:replication:replicator:${passwords.replication}\n`, { mode: 0o600 });
    await writeFile(pwfile, `${passwords.superuser}\n`, { mode: 0o600 });
    await giveToServiceUser(passfile, pwfile);

    await runAsService(
      bin('initdb'),
      [
        '-D',
        primary.dataDir,
        '-U',
        'postgres',
        `--pwfile=${pwfile}`,
        '--auth-local=peer',
        '--auth-host=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-instructions',
      ],
      { cwd: baseDir },
    );
    await rm(pwfile);
    await writeFile(
      path.join(primary.dataDir, 'pg_hba.conf'),
      'local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\nhost replication replicator 127.0.0.1/32 scram-sha-256\n',
    );
    // Appended last, so these win. pg_basebackup copies this file: the standby starts with the same.
    await appendFile(
      path.join(primary.dataDir, 'postgresql.conf'),
      '\n# todoapp streaming pair (fsync, synchronous_commit and full_page_writes keep their safe defaults)\n' +
        confLines({
          listen_addresses: '127.0.0.1',
          unix_socket_directories: path.dirname(primary.dataDir),
          shared_buffers: '16MB',
          max_connections: '100',
          wal_level: 'replica',
          max_wal_senders: '10',
          hot_standby: 'on',
          // So the old primary could be pg_rewound into a standby later.
          wal_log_hints: 'on',
          // The walreceiver's application_name defaults to cluster_name: pg_stat_replication shows "standby".
          cluster_name: 'primary',
        }),
    );
    primary.port = await startOnFreePort(primary.dataDir, primary.logFile, baseDir);

    await withConnection(nodeUrl(primary), async (sql) => {
      await sql.unsafe(`CREATE ROLE replicator REPLICATION LOGIN PASSWORD '${passwords.replication}'`);
      if (options.synchronous) {
        // Through ALTER SYSTEM, i.e. postgresql.auto.conf, which pg_basebackup copies to the standby.
        await sql.unsafe(`ALTER SYSTEM SET synchronous_standby_names = 'standby'`);
        await sql`SELECT pg_reload_conf()`;
      }
    });

    // -R writes standby.signal and primary_conninfo (with the passfile); -C -S a slot keeps the WAL it still needs.
    await runAsService(
      bin('pg_basebackup'),
      [
        '-D',
        standby.dataDir,
        '-d',
        `host=127.0.0.1 port=${primary.port} user=replicator passfile=${passfile}`,
        '-R',
        '-X',
        'stream',
        '-c',
        'fast',
        '-C',
        '-S',
        'standby',
      ],
      { cwd: baseDir },
    );
    await appendFile(
      path.join(standby.dataDir, 'postgresql.conf'),
      confLines({ unix_socket_directories: path.dirname(standby.dataDir), cluster_name: 'standby' }),
    );
    standby.port = await startOnFreePort(standby.dataDir, standby.logFile, baseDir);
    await waitForStandby();
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }

  return {
    primary,
    standby,
    url,
    directUrl,
    nodeUrl,
    createDatabase: (name, owner, createOptions) =>
      createAppDatabase(url(), name, owner, { primary: `127.0.0.1:${current.port}`, all: hosts() }, createOptions),
    waitForStandby,
    async killPrimary(signal = 'SIGKILL') {
      const postmaster = await readPostmasterPid(primary.dataDir);
      if (!postmaster) throw new Error('The primary is not running');
      process.kill(postmaster.pid, signal);
      return { pid: postmaster.pid, at: performance.now() };
    },
    async promote() {
      const started = performance.now();
      // The standby was cloned with the primary's synchronous_standby_names (it is in the copied
      // postgresql.auto.conf). Promoted with it, the new primary would wait for a synchronous
      // standby that does not exist, and every write would hang. So it is cleared first, and
      // promotion waits until the server has reloaded it.
      await withConnection(nodeUrl(standby), async (sql) => {
        await sql`ALTER SYSTEM RESET synchronous_standby_names`;
        await sql`SELECT pg_reload_conf()`;
      });
      await waitFor('the standby to reload synchronous_standby_names', 10_000, () =>
        withConnection(nodeUrl(standby), async (sql) =>
          (await sql`SELECT current_setting('synchronous_standby_names') AS names`)[0]?.names === '' ? true : undefined,
        ),
      );
      await runAsService(bin('pg_ctl'), ['promote', '-D', standby.dataDir, '-w', '-t', '60', '-s'], { cwd: baseDir });
      current = standby;
      return { ms: performance.now() - started };
    },
    stop,
  };
}
