// The embedded engine: PGlite (PostgreSQL compiled to WebAssembly) keeping its
// files in DATA_DIR/pglite. PGlite has no lock between processes, so the whole
// DATA_DIR is held by one process at a time through a lock file.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import v8 from 'node:v8';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import lockfile from 'proper-lockfile';
import { copyTemplate, ensureTemplate } from './pglite-template.ts';
import { observeFailures, trackStatement, type Database, type FailureObserver, type Queryable } from './database.ts';
import { DataDirInUseError } from './errors.ts';

const LOCK_STALE_MS = 10_000;

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
  try {
    return await lockfile.lock(dataDir, {
      lockfilePath: path.join(dataDir, 'todoapp.lock'),
      stale: LOCK_STALE_MS,
      update: LOCK_STALE_MS / 4,
      realpath: false,
      onCompromised: (error) => {
        // Another process may now open the same files: stopping is the only safe move.
        console.error(`Lost the lock on ${dataDir}: ${error.message}. Stopping to protect the embedded database.`);
        process.exit(1);
      },
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') throw new DataDirInUseError(dataDir);
    throw error;
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
      return trackStatement(observeFailures(target.query<Row>(text, params as unknown[]), onFailure).then((done) => done.rows), sent);
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
    close() {
      closing ??= pg.close().finally(release);
      return closing;
    },
  };
}
