// The embedded engine: PGlite (PostgreSQL compiled to WebAssembly) keeping its
// files in DATA_DIR/pglite. PGlite has no lock between processes, so the whole
// DATA_DIR is held by one process at a time through a lock file.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import lockfile from 'proper-lockfile';
import { copyTemplate, ensureTemplate } from './pglite-template.ts';
import { observeFailures, trackStatement, type Database, type FailureObserver, type Queryable } from './database.ts';
import { DataDirInUseError } from './errors.ts';

/** A lock not refreshed for this long is stale whoever holds it (a holder on another machine, or one that recorded no owner). */
const LOCK_STALE_MS = 10_000;
const LOCK_FILE = 'todoapp.lock';
/** The holder's pid and host name, beside the lock: a holder that died on this host is known to be gone at once. */
const LOCK_OWNER_FILE = 'todoapp.lock.owner';
/**
 * Held for the few milliseconds of taking the lock and recording its owner,
 * so that a process judging the lock stale never reads the owner of a lock
 * another process has just taken. Only a crash inside that window leaves it
 * behind, and it goes stale after proper-lockfile's shortest time.
 */
const LOCK_GATE_FILE = 'todoapp.lock.gate';
const LOCK_GATE_STALE_MS = 2_000;

interface LockOwner {
  pid: number;
  hostname: string;
}

async function readLockOwner(file: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(file, 'utf8')) as Partial<LockOwner>;
    return Number.isInteger(owner.pid) && typeof owner.hostname === 'string' ? (owner as LockOwner) : undefined;
  } catch {
    return undefined; // none, or half written: judged by age alone
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0); // sends nothing, only asks
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/**
 * The holder died on this machine: its pid is not running, or is our own (a
 * restarted container gives the new process the old one's pid), so nobody
 * holds the folder and there is nothing to wait for.
 */
function diedOnThisHost(owner: LockOwner): boolean {
  return owner.hostname === hostname() && (owner.pid === process.pid || !isRunning(owner.pid));
}

/**
 * PGlite is 9 MB of WebAssembly. V8 compiles it quickly (Liftoff), then again
 * with its optimising compiler in the background; the second copy of the code
 * cost ~36 MB resident and, on two cores, made a fresh start slower. Measured
 * on this machine: 2,000 inserts ran at 4,300/s with Liftoff alone against
 * 2,200/s with both, selects of 100 rows at 1,300/s either way. V8 reads the
 * flag when it compiles a module, so it can be set here, before the first
 * PGlite starts; only WebAssembly is affected (the PostgreSQL engine runs none).
 */
v8.setFlagsFromString('--liftoff-only');

async function holdDataDir(dataDir: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true });
  const lockPath = path.join(dataDir, LOCK_FILE);
  const ownerPath = path.join(dataDir, LOCK_OWNER_FILE);
  const take = () =>
    lockfile.lock(dataDir, {
      lockfilePath: lockPath,
      stale: LOCK_STALE_MS,
      update: LOCK_STALE_MS / 4,
      realpath: false,
      onCompromised: (error) => {
        // Another process may now open the same files: stopping is the only safe move.
        console.error(`Lost the lock on ${dataDir}: ${error.message}. Stopping to protect the embedded database.`);
        process.exit(1);
      },
    });
  const inUse = (error: unknown) =>
    (error as NodeJS.ErrnoException).code === 'ELOCKED' ? new DataDirInUseError(dataDir) : error;
  // proper-lockfile keeps its locks by their first argument: the gate needs one of its own.
  const gatePath = path.join(dataDir, LOCK_GATE_FILE);
  const releaseGate = await lockfile
    .lock(gatePath, {
      lockfilePath: gatePath,
      stale: LOCK_GATE_STALE_MS,
      retries: { retries: 30, minTimeout: 20, maxTimeout: 200 },
      realpath: false,
    })
    .catch((error: unknown) => Promise.reject(inUse(error)));
  try {
    let release: () => Promise<void>;
    try {
      release = await take();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
      const owner = await readLockOwner(ownerPath);
      if (!owner || !diedOnThisHost(owner)) throw inUse(error);
      // Left by a crash (kill -9, out of memory) on this machine: a
      // supervisor restarting at once must not be turned away for 10 s.
      await rm(lockPath, { recursive: true, force: true });
      release = await take().catch((retryError: unknown) => Promise.reject(inUse(retryError)));
    }
    await writeFile(ownerPath, JSON.stringify({ pid: process.pid, hostname: hostname() } satisfies LockOwner));
    return async () => {
      // The owner goes first: once the lock is gone, the next holder writes its own.
      await rm(ownerPath, { force: true });
      await release();
    };
  } finally {
    await releaseGate();
  }
}

/**
 * A new cluster in `pgliteDir`: a copy of the one kept for this PGlite version
 * (pglite-template.ts), made first if need be. Only where the kept copy can be
 * neither found nor written (a read-only install) does this process run initdb
 * on the folder itself.
 */
async function createCluster(pgliteDir: string): Promise<void> {
  await ensureTemplate().catch(() => undefined);
  if (await copyTemplate(pgliteDir)) return;
  // Creating the cluster grows the WebAssembly heap by ~500 MB, which never
  // shrinks; the caller's new instance starts small again.
  const pg = await PGlite.create(pgliteDir);
  await pg.close();
}

/** `sent`: in a transaction, every statement's outcome, so that the transaction can wait for all of them. */
function wrap(target: PGlite | Transaction, onFailure: FailureObserver, sent?: Promise<unknown>[]): Queryable {
  return {
    query<Row>(text: string, params: readonly unknown[] = []) {
      return trackStatement(
        observeFailures(target.query<Row>(text, params as unknown[]), onFailure).then((done) => done.rows),
        sent,
      );
    },
    async execScript(text: string) {
      await observeFailures(target.exec(text), onFailure);
    },
  };
}

export async function openEmbeddedDatabase(dataDir: string, onFailure: FailureObserver = () => {}): Promise<Database> {
  const release = await holdDataDir(dataDir);
  let pg: PGlite;
  try {
    const pgliteDir = path.join(dataDir, 'pglite');
    // PGlite's default 128MB of shared buffers costs that much resident memory
    // up front; a household's todos need a fraction of it, and what falls out
    // of the buffers is still in the operating system's file cache. 8 MB rather
    // than 16 took 9 MB off the resident size (npm start's 200 MB budget).
    const options = { postgresqlconf: ['shared_buffers = 8MB'] };
    if (!existsSync(path.join(pgliteDir, 'PG_VERSION'))) await createCluster(pgliteDir);
    pg = await PGlite.create(pgliteDir, options);
  } catch (error) {
    await release();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    engine: 'embedded',
    ...wrap(pg, onFailure),
    transaction: (work) =>
      pg.transaction(async (tx) => {
        const sent: Promise<unknown>[] = [];
        const result = await work(wrap(tx, onFailure, sent));
        await Promise.all(sent); // before the COMMIT: one statement at a time here
        return result;
      }),
    async listen(channel, onNotify, onListening) {
      const stop = await pg.listen(channel, (payload) => onNotify(payload));
      onListening();
      return { stop: () => (closing ? Promise.resolve() : stop()) };
    },
    holdStill(work) {
      if (closing) return Promise.reject(new Error('the embedded database is closing'));
      // PGlite runs every statement under its transaction lock, which a transaction holds from BEGIN to
      // COMMIT: inside this one nothing else runs, and PGlite (single-user PostgreSQL, no background
      // processes) writes its files only while a statement runs, straight through to them (NODEFS).
      return pg.transaction((tx) => work(wrap(tx, onFailure)));
    },
    close() {
      closing ??= pg.close().finally(release);
      return closing;
    },
  };
}
