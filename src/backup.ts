// The embedded database's export and import (`todoapp export-data`, `import-data`): one file, a gzipped tar of
// DATA_DIR's pglite/ folder and its secret-key. The export is made holding DATA_DIR's lock, like a server does, so
// no process writes while the files are read: a running server must be stopped for it (decision 013 says why and
// docs/backups.md how). A server database is backed up with PostgreSQL's own tools (docs/backups.md).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { DataDirInUseError } from './db/errors.ts';

/** A failure the operator can act on, with nothing changed. */
export class BackupError extends Error {}

export interface BackupSummary {
  file: string;
  bytes: number;
  todos: number;
  users: number;
  ms: number;
}

const CLUSTER = 'pglite';
/** Without it the tokens' and sessions' hashes match nothing (src/secret-key.ts); absent when SECRET_KEY is set. */
const SECRET_KEY_FILE = 'secret-key';

function tar(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('tar', args, (error, _stdout, stderr) => {
      if (error) reject(new BackupError(`tar ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
      else resolve();
    });
  });
}

/** Opens the embedded database in `dataDir` (taking its lock), runs `work`, closes it. */
async function withCluster<T>(dataDir: string, work: (counts: { todos: number; users: number }) => Promise<T>) {
  // Loaded only here, as openDatabase does, so that the other commands never load PGlite.
  const { openEmbeddedDatabase } = await import('./db/pglite.ts');
  const db = await openEmbeddedDatabase(dataDir);
  try {
    // Every change into the files, so a restored copy starts without replaying WAL.
    await db.query('CHECKPOINT');
    const [counts] = await db.query<{ todos: number; users: number }>(
      'SELECT (SELECT count(*) FROM todos)::int AS todos, (SELECT count(*) FROM users)::int AS users',
    );
    return await work(counts ?? { todos: 0, users: 0 });
  } finally {
    await db.close();
  }
}

export async function exportEmbedded(dataDir: string, outFile: string): Promise<BackupSummary> {
  const started = performance.now();
  const file = path.resolve(outFile);
  if (existsSync(file)) throw new BackupError(`${file} already exists; name a new file. Nothing was written.`);
  if (!existsSync(path.join(dataDir, CLUSTER, 'PG_VERSION')))
    throw new BackupError(`There is no embedded database in ${dataDir} (DATA_DIR) to export.`);
  const partial = `${file}.partial-${process.pid}`;
  try {
    const counts = await withCluster(dataDir, async (counts) => {
      const parts = [CLUSTER, ...(existsSync(path.join(dataDir, SECRET_KEY_FILE)) ? [SECRET_KEY_FILE] : [])];
      await tar(['-czf', partial, '-C', dataDir, ...parts]);
      return counts;
    });
    // It holds the secret key and the password hashes: for its owner's eyes only.
    await chmod(partial, 0o600);
    await rename(partial, file);
    return { file, bytes: (await stat(file)).size, ...counts, ms: performance.now() - started };
  } catch (error) {
    await rm(partial, { force: true });
    if (error instanceof DataDirInUseError)
      throw new BackupError(
        `${dataDir} is in use by a running todoapp, and a consistent export needs it to itself. ` +
          'Stop the server, run export-data again (a few seconds), then start the server; docs/backups.md has the steps. Nothing was written.',
      );
    throw error;
  }
}

/** Restores an export into `dataDir`, which must be absent or empty; it takes its place only once it opens. */
export async function importEmbedded(fromFile: string, dataDir: string): Promise<BackupSummary> {
  const started = performance.now();
  const file = path.resolve(fromFile);
  if (!existsSync(file)) throw new BackupError(`${file} does not exist.`);
  const entries = await readdir(dataDir).catch(() => []);
  if (entries.length > 0)
    throw new BackupError(
      `${dataDir} (DATA_DIR) is not empty: import into a new, empty folder (move the old one aside first). Nothing was changed.`,
    );
  // Beside DATA_DIR, on the same file system, so that the last step is one rename.
  await mkdir(path.dirname(dataDir), { recursive: true });
  const staging = await mkdtemp(`${dataDir}.import-`);
  try {
    await tar(['-xzf', file, '-C', staging]);
    if (!existsSync(path.join(staging, CLUSTER, 'PG_VERSION')))
      throw new BackupError(`${file} is not a todoapp export: it holds no ${CLUSTER}/ folder. Nothing was changed.`);
    const counts = await withCluster(staging, async (counts) => counts);
    if (existsSync(dataDir)) await rmdir(dataDir); // empty, as checked; fails if a process wrote to it meanwhile
    await rename(staging, dataDir);
    return { file, bytes: (await stat(file)).size, ...counts, ms: performance.now() - started };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}
