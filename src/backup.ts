// The embedded database's export and import (`todoapp export-data`, `import-data`): one file, a gzipped tar of
// DATA_DIR's pglite/ folder and its secret-key. While a server runs on DATA_DIR, the export asks it for a
// consistent copy over its export socket (src/backup-socket.ts); with no server, it takes DATA_DIR's lock, as a
// server does, and reads the files itself. The import is made with the server stopped, into a new folder.
// Decision 014 says why, docs/backups.md how. A server database is backed up with PostgreSQL's own tools.
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import {
  countContents,
  exportSocketPath,
  FooterSplitter,
  requestExport,
  SECRET_KEY_FILE,
  type ContentCounts,
  type ExportHeader,
} from './backup-socket.ts';
import { DataDirInUseError } from './db/errors.ts';

/** A failure the operator can act on, with nothing changed. */
export class BackupError extends Error {}

export interface BackupSummary {
  file: string;
  bytes: number;
  todos: number;
  users: number;
  ms: number;
  /** An export: made by the server running on DATA_DIR, through its export socket. */
  fromRunningServer?: boolean;
}

const CLUSTER = 'pglite';
// SECRET_KEY_FILE: without it the tokens' and sessions' hashes match nothing (src/secret-key.ts).

function tar(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('tar', args, (error, _stdout, stderr) => {
      if (error) reject(new BackupError(`tar ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
      else resolve();
    });
  });
}

/** Opens the embedded database in `dataDir` (taking its lock), runs `work`, closes it. */
async function withCluster<T>(dataDir: string, work: (counts: ContentCounts) => Promise<T>) {
  // Loaded only here, as openDatabase does, so that the other commands never load PGlite.
  const { openEmbeddedDatabase } = await import('./db/pglite.ts');
  const db = await openEmbeddedDatabase(dataDir);
  try {
    // Every change into the files, so a restored copy starts without replaying WAL.
    await db.query('CHECKPOINT');
    return await work(await countContents(db));
  } finally {
    await db.close();
  }
}

/** What goes into an export beside pglite/: the secret key, when DATA_DIR has one. */
function extraParts(dataDir: string): string[] {
  return existsSync(path.join(dataDir, SECRET_KEY_FILE)) ? [SECRET_KEY_FILE] : [];
}

/**
 * Writes the server's copy to `partial`, gzipped: first as it comes to a plain tar beside it (the server
 * holds its database still until its tar has read the files, so the faster this side takes them, the
 * shorter that is), then compressed here, with the server running free again.
 */
async function exportFromServer(
  partial: string,
  answer: { header: ExportHeader; socket: net.Socket },
): Promise<ContentCounts> {
  const { header, socket } = answer;
  const plain = `${partial}.tar`;
  try {
    if (!header.ok)
      throw new BackupError(`The running server could not make a copy: ${header.error}. Nothing was written.`);
    const splitter = new FooterSplitter();
    await pipeline(socket, splitter, createWriteStream(plain, { mode: 0o600 })).catch((error: Error) => {
      throw new BackupError(`The copy from the server was cut off: ${error.message}. Nothing was written.`);
    });
    const footer = splitter.footer();
    if (!footer.ok)
      throw new BackupError(`The running server could not finish the copy: ${footer.error}. Nothing was written.`);
    if (footer.bytes !== splitter.passed)
      throw new BackupError(
        `The copy from the server was cut off (${splitter.passed} of ${footer.bytes} bytes). Nothing was written.`,
      );
    await pipeline(createReadStream(plain), createGzip(), createWriteStream(partial, { mode: 0o600 }));
    return { todos: header.todos, users: header.users };
  } finally {
    socket.destroy();
    await rm(plain, { force: true });
  }
}

/**
 * Exports `dataDir`'s database into `outFile`: from the server running on it, through its export socket,
 * or, with no server running, from the files themselves under DATA_DIR's lock.
 */
export async function exportEmbedded(dataDir: string, outFile: string): Promise<BackupSummary> {
  const started = performance.now();
  const file = path.resolve(outFile);
  if (existsSync(file)) throw new BackupError(`${file} already exists; name a new file. Nothing was written.`);
  if (!existsSync(path.join(dataDir, CLUSTER, 'PG_VERSION')))
    throw new BackupError(`There is no embedded database in ${dataDir} (DATA_DIR) to export.`);
  const socketPath = exportSocketPath(dataDir);
  const answer = await requestExport(dataDir).catch((error: NodeJS.ErrnoException) => {
    throw new BackupError(
      `Could not ask the running server for a copy through ${socketPath}: ${error.code ?? error.message}. ` +
        (error.code === 'EACCES' ? 'Run export-data as the user the server runs as. ' : '') +
        'Nothing was written.',
    );
  });
  const partial = `${file}.partial-${process.pid}`;
  try {
    const counts = answer
      ? await exportFromServer(partial, answer)
      : await withCluster(dataDir, async (counts) => {
          await tar(['-czf', partial, '-C', dataDir, CLUSTER, ...extraParts(dataDir)]);
          return counts;
        });
    // It holds the secret key and the password hashes: for its owner's eyes only.
    await chmod(partial, 0o600);
    await rename(partial, file);
    const summary = { file, bytes: (await stat(file)).size, ...counts, ms: performance.now() - started };
    return answer ? { ...summary, fromRunningServer: true } : summary;
  } catch (error) {
    await rm(partial, { force: true });
    if (error instanceof DataDirInUseError)
      throw new BackupError(
        `${dataDir} is in use by a running todoapp that does not answer on its export socket (${socketPath}): ` +
          'it may still be starting (try again), or its log says why the socket is off. ' +
          'Otherwise stop the server, run export-data again, then start the server; docs/backups.md has the steps. Nothing was written.',
      );
    throw error;
  }
}

/**
 * Restores an export into `dataDir`, which must be absent or empty (so no server runs on it); it takes its
 * place only once it opens. There is no import into a running server: start one on the folder afterwards.
 */
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
