// A connection lost while postgres.js sets it up. Each new connection first
// asks the server for its array types (postgres.js's fetch_types), and when
// target_session_attrs is given, whether it is a primary. A database restart
// or failover can end the connection right then. Unpatched postgres.js 3.4.9
// did two things wrong in that moment (porsager/postgres#1192, #1205, #1223;
// patches/postgres+3.4.9.patch):
// - the failed setup query's rejection went unhandled, which ends a Node
//   process (node:test reports it as a failure here);
// - the server's "terminating connection" error was kept and handed to the
//   first query of the *next* connection, although that one had worked.
// A proxy between the pool and a real PostgreSQL ends the connection at the
// moment the types query arrives.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '../../src/db/database.ts';
import { openServerDatabase } from '../../src/db/postgres.ts';
import { withRetries } from '../../src/db/retry.ts';
import { pickFreePort } from '../support/ports.ts';
import { createTestDatabase } from '../support/postgres.ts';

const DB_OPTIONS = { poolSize: 2, connectTimeoutSeconds: 2, statementTimeoutMs: 5000, retryBudgetMs: 5000 };
/** In the Parse message of postgres.js's types query. */
const TYPES_QUERY = 'pg_catalog.pg_type';
/** What PostgreSQL sends a backend's client when pg_terminate_backend or a fast shutdown ends it. */
const TERMINATED = errorResponse('FATAL', '57P01', 'terminating connection due to administrator command');

function errorResponse(severity: string, code: string, message: string): Buffer {
  const fields = Buffer.from(`S${severity}\0V${severity}\0C${code}\0M${message}\0\0`);
  const head = Buffer.alloc(5);
  head.write('E');
  head.writeUInt32BE(fields.length + 4, 1);
  return Buffer.concat([head, fields]);
}

interface Interruption {
  /** Text of the query to interrupt. */
  at: string;
  how: 'terminate' | 'refuse';
}

/** A TCP proxy to PostgreSQL that interrupts a query of the pool's setup, once, as `interrupt` says. */
class InterruptingProxy {
  readonly port: number;
  readonly #upstream: URL;
  #server: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();
  interrupt: Interruption | undefined;
  interrupted = 0;

  constructor(port: number, upstream: URL) {
    this.port = port;
    this.#upstream = upstream;
  }

  async listen(): Promise<void> {
    const server = net.createServer((client) => this.#connect(client));
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
  }

  #connect(client: net.Socket): void {
    const server = net.connect(Number(this.#upstream.port), this.#upstream.hostname);
    for (const socket of [client, server]) {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => {});
    }
    server.pipe(client);
    client.on('data', (chunk: Buffer) => {
      const interrupt = this.interrupt;
      if (interrupt && chunk.includes(interrupt.at)) {
        this.interrupt = undefined;
        this.interrupted++;
        server.destroy();
        if (interrupt.how === 'terminate') {
          client.end(TERMINATED);
        } else {
          // The server is gone for a moment: the pool's next attempt is refused.
          void this.close().then(() => sleep(300).then(() => this.listen()));
          client.destroy();
        }
        return;
      }
      server.write(chunk);
    });
    client.on('end', () => server.end());
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}

describe('a connection lost while postgres.js sets it up', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let proxy: InterruptingProxy;
  let db: Database;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  before(async () => {
    database = await createTestDatabase();
    proxy = new InterruptingProxy(await pickFreePort(), new URL(database.url));
    await proxy.listen();
    process.on('unhandledRejection', onUnhandled);
  });
  /** The pool, through the proxy. */
  const open = (params: Record<string, string> = {}) => {
    const url = new URL(database.url);
    url.host = `127.0.0.1:${proxy.port}`;
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return openServerDatabase(url.href, DB_OPTIONS);
  };
  beforeEach(() => {
    unhandled.length = 0;
    proxy.interrupted = 0;
    db = open();
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await proxy?.close();
    await database?.drop();
  });

  /** Lets a dropped rejection surface (Node reports it once the microtask queue is empty). */
  const settle = () => sleep(100);

  it('terminated by the server while fetching types: the query succeeds on the next connection, nothing is left unhandled', async () => {
    proxy.interrupt = { at: TYPES_QUERY, how: 'terminate' };
    try {
      // No retries: the pool itself reconnects, and the first query must not carry the old connection's error.
      assert.deepEqual([...(await db.query('SELECT 1 AS one'))], [{ one: 1 }]);
      assert.equal(proxy.interrupted, 1, 'the types query was interrupted once');
      await settle();
      assert.deepEqual(unhandled, []);
    } finally {
      await db.close();
    }
  });

  it('the server refusing the reconnection right after: the request retries and succeeds, nothing is left unhandled', async () => {
    proxy.interrupt = { at: TYPES_QUERY, how: 'refuse' };
    try {
      assert.deepEqual([...(await withRetries(db, 5000).query('SELECT 2 AS two'))], [{ two: 2 }]);
      assert.equal(proxy.interrupted, 1, 'the types query was interrupted once');
      // The pool's other connection, and array parameters (which need the fetched types), work too.
      const [first, second] = await Promise.all([
        db.query<{ n: number[] }>('SELECT $1::int[] AS n', [[1, 2]]),
        db.query<{ n: number[] }>('SELECT $1::int[] AS n', [[3]]),
      ]);
      assert.deepEqual([[...first], [...second]], [[{ n: [1, 2] }], [{ n: [3] }]]);
      await settle();
      assert.deepEqual(unhandled, []);
    } finally {
      await db.close();
    }
  });
});
