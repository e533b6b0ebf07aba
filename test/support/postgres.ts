// Real PostgreSQL 15 servers for tests: a throwaway cluster in a temp dir,
// listening on 127.0.0.1 only, with durability switched off for speed.
// PostgreSQL refuses to run as root, so as root every server binary runs as the
// `postgres` user through runuser and the temp dirs are handed to that user.
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { appendFile, chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { pickFreePort } from './ports.ts';

export const POSTGRES_BIN_DIR = '/usr/lib/postgresql/15/bin';

export interface PostgresServer {
  port: number;
  dataDir: string;
  /** The server's log (pg_ctl -l). */
  logFile: string;
  /** Connection URL for the superuser `postgres` (trust auth) to `database` (default `postgres`). */
  url(database?: string): string;
  /** Fast shutdown, then the temp dirs are removed. Safe to call twice. */
  stop(): Promise<void>;
  /** Stops the server but keeps its data: `immediate` is a crash, `fast` an operator's stop. */
  halt(mode: 'fast' | 'immediate'): Promise<void>;
  /** Starts a halted server again on the same port. */
  resume(): Promise<void>;
}

export interface StartPostgresOptions {
  /** A fixed port; without it a free one in 20000–32000 is picked (kept below the 32768+ ephemeral range, so outgoing connections cannot take it). */
  port?: number;
  /** postgresql.conf settings, overriding the test defaults below. */
  settings?: Record<string, string>;
  /** Extra environment for the server and what it runs (archive_command, restore_command): e.g. object-store credentials. */
  env?: Record<string, string>;
  /**
   * Fills the data dir instead of initdb, e.g. with a restored base backup. It runs once the temp dir is the
   * server user's; the settings are appended to the postgresql.conf it leaves, as after initdb.
   */
  createDataDir?: (dataDir: string) => Promise<void>;
}

// Test data is thrown away, so nothing needs to survive a crash.
const DEFAULT_SETTINGS: Record<string, string> = {
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  max_connections: '200',
};

const PORT_ATTEMPTS = 10;

const asRoot = process.getuid?.() === 0;

/** argv that runs a PostgreSQL binary as a user the server accepts. */
function command(binary: string, args: string[]): [string, string[]] {
  const file = path.join(POSTGRES_BIN_DIR, binary);
  return asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
}

function run(binary: string, args: string[], cwd: string, extraEnv: Record<string, string> = {}): Promise<void> {
  const [file, argv] = command(binary, args);
  return new Promise((resolve, reject) => {
    // cwd is a dir the postgres user can enter; the caller's may not be.
    execFile(file, argv, { cwd, env: { ...serverEnv(), ...extraEnv } }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${binary} ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`.trim()));
      else resolve();
    });
  });
}

function serverEnv(): NodeJS.ProcessEnv {
  // PG* variables from the caller's shell would point the tools at some other server.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PG')));
  return { ...env, LC_ALL: 'C' };
}

async function postgresUserIds(): Promise<{ uid: number; gid: number }> {
  const id = (flag: string) =>
    new Promise<number>((resolve, reject) => {
      execFile('id', [flag, 'postgres'], (error, stdout) => {
        if (error)
          reject(new Error(`Running as root needs a "postgres" system user to run PostgreSQL as: ${error.message}`));
        else resolve(Number(stdout.trim()));
      });
    });
  return { uid: await id('-u'), gid: await id('-g') };
}

/** postgresql.conf syntax: every value single-quoted, so units and lists need no special care. */
export function confLines(settings: Record<string, string>): string {
  return Object.entries(settings)
    .map(([name, value]) => `${name} = '${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'\n`)
    .join('');
}

// Servers not yet stopped, so an exiting process can take them down with it.
const running = new Map<string, { baseDir: string; dataDir: string }>();
let exitHooksInstalled = false;

function stopAllNow(): void {
  for (const [key, { baseDir, dataDir }] of running) {
    running.delete(key);
    const [file, argv] = command('pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-s']);
    spawnSync(file, argv, { cwd: baseDir, env: serverEnv(), stdio: 'ignore' });
    rmSync(baseDir, { recursive: true, force: true });
  }
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  // pg_ctl detaches the server into its own session, so nothing else ends it.
  process.on('exit', stopAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      stopAllNow();
      // If nobody else handles the signal (node:test's runner does, and exits),
      // die of it as the process would have without this hook.
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

export async function startPostgresServer(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const baseDir = await mkdtemp(path.join(tmpdir(), 'todoapp-pg-'));
  const dataDir = path.join(baseDir, 'data');
  const socketDir = path.join(baseDir, 'socket');
  const logFile = path.join(baseDir, 'server.log');
  try {
    await mkdir(socketDir);
    if (asRoot) {
      const { uid, gid } = await postgresUserIds();
      await chown(baseDir, uid, gid);
      await chown(socketDir, uid, gid);
    }
    if (options.createDataDir) await options.createDataDir(dataDir);
    else
      await run(
        'initdb',
        [
          '-D',
          dataDir,
          '--auth=trust',
          '-U',
          'postgres',
          '--encoding=UTF8',
          '--locale=C',
          '--no-sync',
          '--no-instructions',
        ],
        baseDir,
      );
    // Appended last, so these win over initdb's values; the fixed ones keep the
    // server private to this machine and this test run.
    await appendFile(
      path.join(dataDir, 'postgresql.conf'),
      '\n# todoapp test harness\n' +
        confLines({
          ...DEFAULT_SETTINGS,
          ...options.settings,
          listen_addresses: '127.0.0.1',
          unix_socket_directories: socketDir,
        }),
    );

    let port = options.port;
    for (let attempt = 1; ; attempt++) {
      const candidate = port ?? (await pickFreePort());
      // pg_ctl creates the log as the server's user; a fresh one per attempt keeps errors readable.
      await rm(logFile, { force: true });
      running.set(baseDir, { baseDir, dataDir });
      installExitHooks();
      try {
        await run(
          'pg_ctl',
          ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-s', '-o', `-p ${candidate}`],
          baseDir,
          options.env,
        );
        port = candidate;
        break;
      } catch (error) {
        // A start that timed out may have left a server behind.
        await run('pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-s'], baseDir).catch(() => {});
        running.delete(baseDir);
        const log = await readFile(logFile, 'utf8').catch(() => '');
        // Another process may take the port between the probe and the bind: try another.
        const portTaken = /could not bind|could not create any TCP\/IP sockets|already in use/i.test(log);
        if (portTaken && options.port === undefined && attempt < PORT_ATTEMPTS) continue;
        throw new Error(
          `PostgreSQL did not start on port ${candidate}: ${(error as Error).message}\n--- server log ---\n${log}`,
          { cause: error },
        );
      }
    }

    const serverPort = port;
    let stopped = false;
    return {
      port: serverPort,
      dataDir,
      logFile,
      url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${serverPort}/${encodeURIComponent(database)}`,
      halt: (mode) => run('pg_ctl', ['stop', '-D', dataDir, '-m', mode, '-w', '-s'], baseDir),
      resume: () =>
        run(
          'pg_ctl',
          ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-s', '-o', `-p ${serverPort}`],
          baseDir,
          options.env,
        ),
      async stop() {
        if (stopped) return;
        stopped = true;
        try {
          await run('pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w', '-s'], baseDir);
        } catch (error) {
          // A signal hook may have stopped it (immediate mode) while pg_ctl ran: that is a success.
          // Otherwise insist, so no server outlives its removed data dir.
          if (running.has(baseDir)) {
            await run('pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-s'], baseDir).catch(() => {
              throw error;
            });
          }
        } finally {
          running.delete(baseDir);
          await rm(baseDir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await rm(baseDir, { recursive: true, force: true });
    throw error;
  }
}

/** Runs one statement on its own short-lived connection, so no socket keeps the test process alive. */
async function adminExec(adminUrl: string, statement: string): Promise<void> {
  const sql = postgres(adminUrl, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: 'todoapp-test-harness' },
  });
  try {
    await sql.unsafe(statement);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

let ownServer: Promise<PostgresServer> | undefined;

/** Admin URL of the shared server from scripts/test.ts, or of a server this process starts once (stopped on exit). */
async function adminUrl(): Promise<string> {
  const shared = process.env.TEST_PG_ADMIN_URL;
  if (shared) return shared;
  ownServer ??= startPostgresServer();
  try {
    return (await ownServer).url('postgres');
  } catch (error) {
    ownServer = undefined;
    throw error;
  }
}

/** A fresh, empty database for one test file: on the shared server named by env TEST_PG_ADMIN_URL (set by scripts/test.ts), or else on a server this process starts itself once and stops on exit. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = await adminUrl();
  const name = `t_${randomBytes(8).toString('hex')}`;
  await adminExec(admin, `CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.href,
    async drop() {
      if (dropped) return;
      dropped = true;
      // FORCE ends connections a test forgot to close instead of failing on them.
      await adminExec(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
