// The embedded engine: PGlite (PostgreSQL compiled to WebAssembly) keeping its
// files in DATA_DIR/pglite. PGlite has no lock between processes, so the whole
// DATA_DIR is held by one process at a time through a lock file.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import lockfile from 'proper-lockfile';
import { countFailures, trackStatement, type Database, type Queryable } from './database.ts';
import { DataDirInUseError } from './errors.ts';

const LOCK_STALE_MS = 10_000;

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

/** `sent`: in a transaction, every statement's outcome, so that the transaction can wait for all of them. */
function wrap(target: PGlite | Transaction, sent?: Promise<unknown>[]): Queryable {
  return {
    query<Row>(text: string, params: readonly unknown[] = []) {
      return trackStatement(countFailures(target.query<Row>(text, params as unknown[])).then((done) => done.rows), sent);
    },
    async execScript(text: string) {
      await countFailures(target.exec(text));
    },
  };
}

export async function openEmbeddedDatabase(dataDir: string): Promise<Database> {
  const release = await holdDataDir(dataDir);
  let pg: PGlite;
  try {
    const pgliteDir = path.join(dataDir, 'pglite');
    // PGlite's default 128MB of shared buffers costs that much resident memory
    // up front; one person's todos need a fraction of it.
    const options = { postgresqlconf: ['shared_buffers = 16MB'] };
    const fresh = !existsSync(path.join(pgliteDir, 'PG_VERSION'));
    pg = await PGlite.create(pgliteDir, options);
    if (fresh) {
      // Creating the cluster (initdb) grows the WebAssembly heap by ~500 MB,
      // which never shrinks; a new instance starts small again.
      await pg.close();
      pg = await PGlite.create(pgliteDir, options);
    }
  } catch (error) {
    await release();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    engine: 'embedded',
    ...wrap(pg),
    transaction: (work) =>
      pg.transaction(async (tx) => {
        const sent: Promise<unknown>[] = [];
        const result = await work(wrap(tx, sent));
        await Promise.all(sent); // before the COMMIT: one statement at a time here
        return result;
      }),
    close() {
      closing ??= pg.close().finally(release);
      return closing;
    },
  };
}
