// The embedded server's export socket: `todoapp serve` on PGlite listens on DATA_DIR/todoapp.sock, a
// Unix socket only its own user can open (mode 0600), so that `todoapp export-data` gets a consistent
// copy of the database while the server runs: PGlite lives inside the server process and no other
// process can read its files consistently (decision 014). The protocol is one request line,
// `export-data`, answered by one JSON line (the counts, or an error), then a tar of DATA_DIR's pglite/
// and secret-key, read by the system's tar while PGlite runs nothing, then a fixed-size JSON footer
// (the tar's length, or the error that cut it short). Nothing else is offered: importing stays with
// the server stopped.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { lstat, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import type { Database, Queryable } from './db/database.ts';

export const EXPORT_SOCKET_FILE = 'todoapp.sock';
const REQUEST = 'export-data';
/** Longer than any request; a peer sending more, or nothing for this long, is cut off. */
const MAX_REQUEST_BYTES = 64;
const REQUEST_TIMEOUT_MS = 10_000;
/** sockaddr_un's sun_path is 108 bytes on Linux, with its terminating zero. */
const MAX_SOCKET_PATH_BYTES = 107;

export interface ContentCounts {
  todos: number;
  users: number;
}

/** What an export holds, printed by export-data and import-data. */
export async function countContents(db: Queryable): Promise<ContentCounts> {
  const [counts] = await db.query<ContentCounts>(
    'SELECT (SELECT count(*) FROM todos)::int AS todos, (SELECT count(*) FROM users)::int AS users',
  );
  return counts ?? { todos: 0, users: 0 };
}

/** The answer's first line. */
export type ExportHeader = ({ ok: true } & ContentCounts) | { ok: false; error: string };
/** The answer's last FOOTER_BYTES: JSON padded with spaces, then a newline. */
export type ExportFooter = { ok: true; bytes: number } | { ok: false; error: string };
export const FOOTER_BYTES = 256;
/** What the copy holds beside pglite/: the secret key, when DATA_DIR has one (absent when SECRET_KEY is set). */
export const SECRET_KEY_FILE = 'secret-key';

function footer(value: ExportFooter): string {
  let text = JSON.stringify(value.ok ? value : { ok: false, error: value.error.slice(0, 180) });
  if (Buffer.byteLength(text) > FOOTER_BYTES - 1) text = JSON.stringify({ ok: false, error: 'see the server log' });
  return `${text.padEnd(FOOTER_BYTES - 1)}\n`;
}

interface Log {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
}

export interface ExportSocket {
  readonly path: string;
  close(): Promise<void>;
}

export function exportSocketPath(dataDir: string): string {
  return path.join(dataDir, EXPORT_SOCKET_FILE);
}

/** Reads the request line; undefined when the peer sends something else, too much, or nothing in time. */
function readRequest(socket: net.Socket): Promise<string | undefined> {
  return new Promise((resolve) => {
    let received = '';
    const done = (request: string | undefined) => {
      socket.off('data', onData);
      socket.setTimeout(0);
      resolve(request);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\n');
      if (end >= 0) done(received.slice(0, end));
      else if (received.length > MAX_REQUEST_BYTES) done(undefined);
    };
    socket.on('data', onData);
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => done(undefined));
    socket.once('close', () => done(undefined));
  });
}

/**
 * Listens on DATA_DIR/todoapp.sock for as long as the server runs. The caller holds DATA_DIR's lock,
 * so a socket file found there is a dead server's and is replaced. Returns undefined (having said
 * why) when it cannot listen: the server runs on, and export-data then says so.
 */
export async function listenForExports(dataDir: string, db: Database, log: Log): Promise<ExportSocket | undefined> {
  const holdStill = db.holdStill?.bind(db);
  if (!holdStill) return undefined;
  const socketPath = exportSocketPath(dataDir);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    log.warn(
      { socket: socketPath },
      `export socket off: its path is longer than ${MAX_SOCKET_PATH_BYTES} bytes; export-data needs the server stopped`,
    );
    return undefined;
  }
  const existing = await lstat(socketPath).catch(() => undefined);
  if (existing?.isSocket())
    await rm(socketPath, { force: true }); // left by a server that died
  else if (existing) {
    log.warn(
      { socket: socketPath },
      'export socket off: something else has its name; export-data needs the server stopped',
    );
    return undefined;
  }

  // One export at a time.
  let queue: Promise<void> = Promise.resolve();
  const connections = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    socket.on('error', () => socket.destroy());
    void readRequest(socket).then((request) => {
      if (request !== REQUEST) {
        const answer: ExportHeader = { ok: false, error: `unknown request; the only one is "${REQUEST}"` };
        socket.end(`${JSON.stringify(answer)}\n`);
        return;
      }
      queue = queue.then(() => sendCopy(socket));
    });
  });

  async function sendCopy(socket: net.Socket): Promise<void> {
    if (socket.destroyed) return;
    const started = performance.now();
    let bytes = 0;
    let counts: ContentCounts | undefined;
    try {
      await holdStill!(async (db) => {
        await db.query('CHECKPOINT'); // every change in the data files: the copy starts without replaying WAL
        counts = await countContents(db);
        socket.write(`${JSON.stringify({ ok: true, ...counts } satisfies ExportHeader)}\n`);
        const parts = ['pglite', ...(existsSync(path.join(dataDir, SECRET_KEY_FILE)) ? [SECRET_KEY_FILE] : [])];
        // Streamed, so the server holds no copy in memory (PGlite's own dumpDataDir builds the whole tar
        // in memory: 700 MB resident at the peak for 50,000 todos, over the pod's 384 MiB limit).
        const child = spawn('tar', ['-cf', '-', '-C', dataDir, ...parts], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const closed = once(child, 'close') as Promise<[number | null]>;
        child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
        child.stdout.pipe(socket, { end: false });
        const onGone = () => child.kill();
        socket.once('close', onGone);
        const [code] = await closed;
        socket.off('close', onGone);
        if (code !== 0) throw new Error(`tar failed: ${stderr.trim() || `exit code ${code}`}`);
        // tar has read every file: what it sent may still be on its way, but the files may change now.
      });
      socket.end(footer({ ok: true, bytes }));
      log.info(
        { bytes, ...counts, ms: Math.round(performance.now() - started) },
        'export-data: sent a copy of the embedded database',
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log.warn({ err: error }, 'export-data: the copy was not sent');
      if (socket.destroyed) return;
      if (counts === undefined) socket.end(`${JSON.stringify({ ok: false, error: message } satisfies ExportHeader)}\n`);
      else socket.end(footer({ ok: false, error: message }));
    }
  }

  // Owner only from the moment it exists: the bind happens inside listen(), under this umask.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    log.warn(
      { err: error, socket: socketPath },
      'export socket off: could not listen; export-data needs the server stopped',
    );
    return undefined;
  } finally {
    process.umask(umask);
  }
  let closing: Promise<void> | undefined;
  return {
    path: socketPath,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await queue; // an export under way finishes: the database closes after it
        for (const socket of connections) socket.destroy();
        await closed;
        await rm(socketPath, { force: true });
      })();
      return closing;
    },
  };
}

/**
 * Asks the server on `dataDir` for a copy. Resolves to undefined when no server answers there (no socket,
 * or one left by a server that died); otherwise to the answer's header and the socket, paused at the
 * first byte of the tar.
 */
export async function requestExport(
  dataDir: string,
): Promise<{ header: ExportHeader; socket: net.Socket } | undefined> {
  const socket = await new Promise<net.Socket | undefined>((resolve, reject) => {
    const connection = net.connect(exportSocketPath(dataDir));
    connection.once('connect', () => {
      connection.off('error', reject);
      resolve(connection);
    });
    connection.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') resolve(undefined);
      else reject(error);
    });
  });
  if (!socket) return undefined;
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    const onEnd = () => fail(new Error('the server closed its export socket without answering'));
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf(0x0a);
      if (end < 0) {
        if (received.length > 65_536) fail(new Error('the export socket answered with something else'));
        return;
      }
      socket.off('data', onData).off('end', onEnd).off('error', fail).pause();
      const rest = received.subarray(end + 1);
      if (rest.length > 0) socket.unshift(rest);
      try {
        resolve({ header: JSON.parse(received.subarray(0, end).toString('utf8')) as ExportHeader, socket });
      } catch {
        fail(new Error('the export socket answered with something else'));
      }
    };
    socket.on('data', onData).once('end', onEnd).once('error', fail);
    socket.write(`${REQUEST}\n`);
  });
}

/** Passes everything on but the last FOOTER_BYTES, which `footer()` then parses. */
export class FooterSplitter extends Transform {
  private tail = Buffer.alloc(0);
  passed = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const all = Buffer.concat([this.tail, chunk]);
    const keep = Math.min(all.length, FOOTER_BYTES);
    const out = all.subarray(0, all.length - keep);
    this.tail = Buffer.from(all.subarray(all.length - keep));
    this.passed += out.length;
    done(null, out.length > 0 ? out : undefined);
  }

  footer(): ExportFooter {
    try {
      if (this.tail.length === FOOTER_BYTES) return JSON.parse(this.tail.toString('utf8')) as ExportFooter;
    } catch {
      // below
    }
    return { ok: false, error: 'the copy was cut off (the server stopped or failed while sending it)' };
  }
}
