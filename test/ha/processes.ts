// The HA harness's programs (PostgreSQL, Patroni, etcd, HAProxy) run as the
// `postgres` user, and every one of them is tracked so that nothing outlives
// the process that started it: `stop()` takes them down in order; if a test
// dies midway (an uncaught error, a signal, the runner's timeout) the exit hooks
// below kill what is left; and a reaper process per cluster does it even when
// the harness's process is SIGKILLed.
//
// As root the programs are spawned straight as the `postgres` user through
// Node's uid/gid options, not through `runuser` as test/support/postgres.ts
// does: runuser stays in between as the parent, so its pid is not the
// program's, and on SIGTERM it SIGKILLs its child after two seconds, which
// would cut a Patroni shutdown short. Long-running programs get their own
// process group (`detached`), so one signal reaches the program and any helper
// it runs (Patroni's pg_basebackup, pg_rewind), and a Ctrl-C in the terminal
// does not reach them behind the harness's back. PostgreSQL itself detaches
// further (pg_ctl and Patroni both start it in a session of its own), which is
// what lets a test kill Patroni and leave its PostgreSQL running.
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { chown, readFile } from 'node:fs/promises';
import path from 'node:path';
import postgres from 'postgres';
import { POSTGRES_BIN_DIR } from '../support/postgres.ts';

export { POSTGRES_BIN_DIR };

const asRoot = process.getuid?.() === 0;

let serviceIds: { uid: number; gid: number } | undefined;

/** The uid/gid to run PostgreSQL and its companions as: the `postgres` user when we are root, else ourselves. */
export function serviceUser(): { uid: number; gid: number } | undefined {
  if (!asRoot) return undefined;
  if (!serviceIds) {
    try {
      const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
      serviceIds = { uid: id('-u'), gid: id('-g') };
    } catch (error) {
      throw new Error(
        `Running as root needs a "postgres" system user to run PostgreSQL as: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
  return serviceIds;
}

/** Hands a file or directory we created to the service user (as root), so the programs can use it. */
export async function giveToServiceUser(...paths: string[]): Promise<void> {
  const ids = serviceUser();
  if (!ids) return;
  for (const target of paths) await chown(target, ids.uid, ids.gid);
}

/**
 * The environment the programs get: ours without PG* (they would point the
 * tools at another server; a PGPASSWORD in Patroni's environment also stops its
 * replica from ever bootstrapping), PATRONI_* and ETCD_* (they override the
 * config files), with HOME in the cluster's dir so no ~/.pgpass of the
 * postgres user is read, and unbuffered Python so Patroni's log arrives as it
 * is written.
 */
export function serviceEnv(home: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(PG|PATRONI_|ETCD_)/.test(name)));
  return { ...env, HOME: home, LC_ALL: 'C', PYTHONUNBUFFERED: '1' };
}

/** Runs a short command as the service user; rejects with its output when it fails. */
export function runAsService(
  file: string,
  args: string[],
  options: { cwd: string; timeoutMs?: number },
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: serviceEnv(options.cwd), timeout: options.timeoutMs ?? 120_000, ...serviceUser() },
      (error, stdout, stderr) => {
        if (error)
          reject(
            new Error(`${path.basename(file)} ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`.trim(), {
              cause: error,
            }),
          );
        else resolve(stdout);
      },
    );
  });
}

/** Where a program's output goes: a log file per program, an optional callback, and the last lines kept for error messages. */
export class ProcessLogs {
  private readonly files = new Map<string, WriteStream>();
  private readonly recent = new Map<string, string[]>();

  constructor(
    private readonly dir: string,
    private readonly callback?: (line: string) => void,
  ) {}

  fileFor(name: string): string {
    return path.join(this.dir, `${name}.log`);
  }

  write(name: string, line: string): void {
    let file = this.files.get(name);
    if (!file) {
      file = createWriteStream(this.fileFor(name), { flags: 'a' });
      file.on('error', () => {}); // a log that cannot be written must not crash the tests
      this.files.set(name, file);
    }
    file.write(`${line}\n`);
    const lines = this.recent.get(name) ?? [];
    lines.push(line);
    if (lines.length > 60) lines.shift();
    this.recent.set(name, lines);
    this.callback?.(`[${name}] ${line}`);
  }

  /** The last lines of every program's output, for an error message. */
  tail(): string {
    return [...this.recent]
      .map(([name, lines]) => `--- ${name} (last ${lines.length} lines) ---\n${lines.join('\n')}`)
      .join('\n');
  }

  /** Whether any recent line matches (e.g. a port that was taken after all). */
  mentions(pattern: RegExp): boolean {
    return [...this.recent.values()].some((lines) => lines.some((line) => pattern.test(line)));
  }

  async close(): Promise<void> {
    await Promise.all([...this.files.values()].map((file) => new Promise<void>((resolve) => file.end(resolve))));
    this.files.clear();
  }
}

/** A long-running program (Patroni, etcd, HAProxy) in its own process group, its output going to `logs`. */
export class ServiceProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  private exitStatus: string | undefined;

  constructor(
    readonly name: string,
    file: string,
    args: string[],
    options: { cwd: string; logs: ProcessLogs; onExit?: () => void },
  ) {
    this.child = spawn(file, args, {
      cwd: options.cwd,
      env: serviceEnv(options.cwd),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...serviceUser(),
    });
    const exit = once(this.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    this.exited = exit.then(
      ([code, signal]) => {
        this.exitStatus = signal ? `killed by ${signal}` : `exit code ${code}`;
        options.onExit?.();
      },
      () => {},
    );
    this.child.once('error', (error) => {
      this.exitStatus = `could not start: ${error.message}`;
      options.logs.write(name, this.exitStatus);
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) options.logs.write(name, line);
      });
      stream?.on('end', () => {
        if (partial) options.logs.write(name, partial);
      });
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Still running? */
  get running(): boolean {
    return (
      this.exitStatus === undefined &&
      this.child.exitCode === null &&
      this.child.signalCode === null &&
      this.child.pid !== undefined
    );
  }

  /** Why it ended, once it has. */
  get status(): string {
    return this.exitStatus ?? 'running';
  }

  /** Sends a signal to its whole process group (the program and the helpers it runs). */
  signal(signal: NodeJS.Signals): void {
    if (!this.running || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // Gone between the check and the kill.
    }
  }

  /** SIGTERM, and SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }
}

/** What postmaster.pid says: the postmaster's pid and its System V shared memory segment. */
export interface PostmasterPid {
  pid: number;
  shmem: { key: number; id: number } | undefined;
}

/** The postmaster's pid and shared memory segment from `postmaster.pid`, if the file is there. */
export async function readPostmasterPid(dataDir: string): Promise<PostmasterPid | undefined> {
  const text = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parsePostmasterPid(text);
}

function parsePostmasterPid(text: string): PostmasterPid | undefined {
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  // Line 7 is "<shmem key> <shmem id>" of the small System V segment.
  const [key, id] = (lines[6] ?? '').trim().split(/\s+/).map(Number);
  return {
    pid,
    shmem: Number.isInteger(key) && Number.isInteger(id) ? { key: key as number, id: id as number } : undefined,
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/**
 * The command that removes a dead postmaster's System V segment, or undefined
 * when there is none to remove. A postmaster that was SIGKILLed and never
 * restarted leaves it behind and nothing else would ever remove it; it is
 * removed only when both its key and id (from postmaster.pid) still match and
 * nothing is attached, so no other server's segment is ever touched.
 */
function orphanedSegment(postmaster: PostmasterPid): string | undefined {
  if (!postmaster.shmem) return undefined;
  let table: string;
  try {
    table = readFileSync('/proc/sysvipc/shm', 'utf8');
  } catch {
    return undefined;
  }
  const { key, id } = postmaster.shmem;
  const orphan = table
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/).map(Number))
    .find(([rowKey, rowId, , , , , attached]) => rowKey === key && rowId === id && attached === 0);
  return orphan ? String(id) : undefined;
}

/**
 * Takes down the PostgreSQL of a data dir, whatever state it is in: a running
 * one by an immediate shutdown (the data is thrown away next, so a clean
 * checkpoint would only cost time); a killed one by removing the shared
 * memory segment it left behind.
 */
export async function stopPostgresNow(dataDir: string, cwd: string): Promise<void> {
  const postmaster = await readPostmasterPid(dataDir);
  if (!postmaster) return;
  if (isAlive(postmaster.pid)) {
    await runAsService(
      path.join(POSTGRES_BIN_DIR, 'pg_ctl'),
      ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-s', '-t', '30'],
      { cwd },
    ).catch(() => killQuietly(postmaster.pid));
  }
  const segment = orphanedSegment(postmaster);
  if (segment) await new Promise<void>((resolve) => execFile('ipcrm', ['-m', segment], () => resolve()));
}

/** The same, synchronously, for the exit hooks. */
function stopPostgresNowSync(dataDir: string, cwd: string): void {
  let text: string;
  try {
    text = readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return;
  }
  const postmaster = parsePostmasterPid(text);
  if (!postmaster) return;
  if (isAlive(postmaster.pid)) {
    const result = spawnSync(
      path.join(POSTGRES_BIN_DIR, 'pg_ctl'),
      ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-s', '-t', '10'],
      {
        cwd,
        env: serviceEnv(cwd),
        stdio: 'ignore',
        ...serviceUser(),
      },
    );
    if (result.status !== 0) killQuietly(postmaster.pid);
  }
  const segment = orphanedSegment(postmaster);
  if (segment) spawnSync('ipcrm', ['-m', segment], { stdio: 'ignore' });
}

/** What the exit hooks must take down for one cluster: its programs first (Patroni would restart PostgreSQL), then PostgreSQL, then its files. */
export interface CleanupTarget {
  processes: () => ServiceProcess[];
  dataDirs: string[];
  baseDir: string;
  keepFiles: boolean;
}

export interface CleanupRegistration {
  /** Tells the reaper which process groups run now: call after starting a program (exits are recorded by ServiceProcess's onExit). */
  update(): void;
  /** After a normal stop: unregisters the cluster and dismisses its reaper. */
  done(): void;
}

const targets = new Map<CleanupTarget, { pidFile: string; reaper: ChildProcess }>();
let hooksInstalled = false;

function cleanUpNow(): void {
  for (const [target, { pidFile, reaper }] of targets) {
    targets.delete(target);
    for (const service of target.processes()) service.signal('SIGKILL');
    for (const dataDir of target.dataDirs) stopPostgresNowSync(dataDir, target.baseDir);
    // Done here: the reaper (woken by our exit) must not kill those process group ids again.
    writeQuietly(pidFile, '');
    if (!target.keepFiles) rmSync(target.baseDir, { recursive: true, force: true });
    dismiss(reaper);
  }
}

/** Ends a reaper without its doing anything: its whole group, the shell and the `cat` it waits on. */
function dismiss(reaper: ChildProcess): void {
  try {
    if (reaper.pid !== undefined) process.kill(-reaper.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function writeQuietly(file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch {
    // The dir is gone: nothing left to record.
  }
}

// The reaper covers what the exit hooks cannot: the harness's process killed
// outright (SIGKILL, an OOM kill, a parent that gives up on it). It is a small
// shell in its own session whose stdin is a pipe from us; it blocks reading it,
// and the read ends when our end closes, which happens however we die. It then
// kills the process groups listed in the pid file, stops the PostgreSQL of each
// data dir and removes the cluster's dir. After a normal stop it is SIGKILLed
// without doing anything.
const REAPER_SCRIPT = `
cat > /dev/null
pid_file=$1 base=$2 keep=$3 pg_ctl=$4
shift 4
for group in $(cat "$pid_file" 2>/dev/null); do kill -KILL "-$group" 2>/dev/null; done
cd /
for data in "$@"; do
  if [ -f "$data/postmaster.pid" ]; then
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pg_ctl" stop -D "$data" -m immediate -w -t 10; else "$pg_ctl" stop -D "$data" -m immediate -w -t 10; fi
  fi
done > /dev/null 2>&1
[ "$keep" = 1 ] || rm -rf "$base"
`;

function startReaper(target: CleanupTarget, pidFile: string): ChildProcess {
  const reaper = spawn(
    'sh',
    [
      '-c',
      REAPER_SCRIPT,
      'todoapp-ha-reaper',
      pidFile,
      target.baseDir,
      target.keepFiles ? '1' : '0',
      path.join(POSTGRES_BIN_DIR, 'pg_ctl'),
      ...target.dataDirs,
    ],
    // Its own session, so a Ctrl-C meant for us does not end it before it has done its job.
    { detached: true, stdio: ['pipe', 'ignore', 'ignore'] },
  );
  reaper.on('error', () => {});
  reaper.stdin?.on('error', () => {});
  // Neither the reaper nor the pipe may keep this process alive.
  reaper.unref();
  (reaper.stdin as unknown as { _handle?: { unref?: () => void } } | null)?._handle?.unref?.();
  return reaper;
}

/** Registers a cluster with the exit hooks and gives it a reaper. */
export function cleanUpOnExit(target: CleanupTarget): CleanupRegistration {
  // In the cluster's dir: the reaper reads it before it removes the dir.
  const pidFile = path.join(target.baseDir, 'process-groups');
  targets.set(target, { pidFile, reaper: startReaper(target, pidFile) });
  if (!hooksInstalled) {
    hooksInstalled = true;
    process.on('exit', cleanUpNow);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      const onSignal = () => {
        process.removeListener(signal, onSignal);
        // Someone else handles the signal (node:test's runner, scripts/cluster.ts): they stop the
        // clusters or end the process, and then the exit hook takes down what is left. Cleaning up
        // here first would block them for seconds (and a parent such as tsx's CLI SIGKILLs a child
        // that does not answer a signal within 60 ms, which would cut the cleanup short).
        if (process.listenerCount(signal) > 0) return;
        cleanUpNow();
        // Nobody else handles it: die of it as the process would have without this hook.
        process.kill(process.pid, signal);
      };
      process.on(signal, onSignal);
    }
  }
  return {
    update() {
      if (!targets.has(target)) return;
      const groups = target.processes().filter((service) => service.running && service.pid !== undefined);
      writeQuietly(pidFile, groups.map((service) => `${service.pid}\n`).join(''));
    },
    done() {
      const registered = targets.get(target);
      targets.delete(target);
      if (registered) dismiss(registered.reaper);
    },
  };
}

/** Polls `probe` until it returns something other than undefined; fails after `timeoutMs` with what it last saw. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  options: { intervalMs?: number; watch?: ServiceProcess[]; logs?: ProcessLogs } = {},
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastProblem = '';
  for (;;) {
    try {
      const result = await probe();
      if (result !== undefined) return result;
    } catch (error) {
      lastProblem = (error as Error).message;
    }
    const dead = options.watch?.find((service) => !service.running);
    const timedOut = performance.now() > deadline;
    if (dead || timedOut) {
      const reason = dead
        ? `${dead.name} ended (${dead.status})`
        : `timed out after ${(timeoutMs / 1000).toFixed(1)} s`;
      throw new Error(
        `Waiting for ${what}: ${reason}${lastProblem ? ` (last error: ${lastProblem})` : ''}${options.logs ? `\n${options.logs.tail()}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}

/** Runs `work` on one short-lived connection (nothing left open to keep the process alive). */
export async function withConnection<T>(
  url: string,
  work: (sql: postgres.Sql) => Promise<T>,
  options: { connectTimeoutS?: number } = {},
): Promise<T> {
  const sql = postgres(url, {
    max: 1,
    connect_timeout: options.connectTimeoutS ?? 3,
    onnotice: () => {},
    connection: { application_name: 'todoapp-ha-harness' },
  });
  try {
    return await work(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** A role or database name the harness puts into SQL unquoted: plain lower-case identifiers only. */
export function checkIdentifier(kind: string, name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name))
    throw new Error(`${kind} must be a plain lower-case SQL identifier, got "${name}"`);
  return name;
}

/** A login role that owns a new database, so the app connects as a non-superuser. */
export interface AppCredentials {
  database: string;
  role: string;
  password: string;
}

/** The app's credentials and its URLs. */
export interface AppDatabase extends AppCredentials {
  /** The app's URL of the primary: through HAProxy (HA cluster), or the current primary's (streaming pair). */
  url: string;
  /** The app's multi-host URL of both servers with target_session_attrs=primary. */
  directUrl: string;
}

/** What the HA cluster and the streaming pair both offer: superuser URLs and app databases. */
export interface DatabaseAccess<Node> {
  /** The superuser's URL of the primary. */
  url(database?: string): string;
  /** The superuser's multi-host URL of both servers, target_session_attrs=primary. */
  directUrl(database?: string): string;
  /** The superuser's URL of one server, straight to its PostgreSQL. */
  nodeUrl(node: Node, database?: string): string;
  /** A login role with a random password and a database it owns (`monitor`: grant pg_monitor). */
  createDatabase(name: string, owner: string, options?: { monitor?: boolean }): Promise<AppDatabase>;
}

/** A random password, safe in URLs and SQL literals as it is (base64url). */
export function randomPassword(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * Creates a login role with a random password and a database it owns, through
 * a superuser connection to the primary. `monitor` grants pg_monitor, without
 * which the role sees other roles' rows of pg_stat_replication with NULLs.
 * `hosts.primary` is what the app's url names (HAProxy, or the primary),
 * `hosts.all` the servers of its multi-host directUrl.
 */
export async function createAppDatabase(
  superuserUrl: string,
  database: string,
  role: string,
  hosts: { primary: string; all: string },
  options: { monitor?: boolean } = {},
): Promise<AppDatabase> {
  checkIdentifier('The database name', database);
  checkIdentifier('The role name', role);
  const password = randomPassword();
  await withConnection(superuserUrl, async (sql) => {
    await sql.unsafe(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    if (options.monitor) await sql.unsafe(`GRANT pg_monitor TO ${role}`);
    await sql.unsafe(`CREATE DATABASE ${database} OWNER ${role}`);
  });
  const url = (hostList: string, query = '') => `postgres://${role}:${password}@${hostList}/${database}${query}`;
  return {
    database,
    role,
    password,
    url: url(hosts.primary),
    directUrl: url(hosts.all, '?target_session_attrs=primary'),
  };
}
