// The PostgreSQL test harness itself: real databases that are separate and go
// away when dropped, and servers that leave nothing running once stopped.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, it } from 'node:test';
import postgres from 'postgres';
import { createTestDatabase, startPostgresServer } from './postgres.ts';

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (await isPortFree(port)) return port;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Gone, or a zombie waiting for init to reap it (it no longer does anything). */
function processGone(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (existsSync('/proc/self/stat'))
    return !existsSync(stat) || readFileSync(stat, 'utf8').split(') ')[1]?.startsWith('Z') === true;
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

async function query<Row extends object>(url: string, text: string): Promise<Row[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return (await sql.unsafe(text)) as unknown as Row[];
  } finally {
    await sql.end({ timeout: 5 });
  }
}

describe('createTestDatabase', () => {
  it('gives a working, empty PostgreSQL 15 database', async () => {
    const db = await createTestDatabase();
    try {
      const [row] = await query<{ version: string; name: string; tables: number }>(
        db.url,
        "SELECT version(), current_database() AS name, (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public') AS tables",
      );
      assert.match(row?.version ?? '', /PostgreSQL 15/);
      assert.equal(row?.name, new URL(db.url).pathname.slice(1));
      assert.equal(row?.tables, 0);
    } finally {
      await db.drop();
    }
  });

  it('gives a different database on each call', async () => {
    const [a, b] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    try {
      assert.notEqual(a.url, b.url);
      await query(a.url, 'CREATE TABLE only_in_a (id int)');
      const [row] = await query<{ found: string | null }>(b.url, "SELECT to_regclass('only_in_a')::text AS found");
      assert.equal(row?.found, null);
    } finally {
      await Promise.all([a.drop(), b.drop()]);
    }
  });

  it('drop removes the database, even with a connection still open', async () => {
    const db = await createTestDatabase();
    const open = postgres(db.url, { max: 1, onnotice: () => {} });
    await open`SELECT 1`;
    await db.drop();
    await open.end({ timeout: 1 }).catch(() => {});
    await assert.rejects(query(db.url, 'SELECT 1'), (error: Error & { code?: string }) => {
      assert.equal(error.code, '3D000'); // invalid_catalog_name: no such database
      return true;
    });
  });
});

describe('startPostgresServer', () => {
  it('listens on the given port with the given settings, and stop() leaves nothing behind', async () => {
    const port = await freePort();
    const server = await startPostgresServer({ port, settings: { work_mem: '7MB' } });
    let stopped = false;
    try {
      assert.equal(server.port, port);
      assert.equal(server.url(), `postgres://postgres@127.0.0.1:${port}/postgres`);
      const [row] = await query<{ port: string; fsync: string; work_mem: string; listen: string }>(
        server.url(),
        "SELECT current_setting('port') AS port, current_setting('fsync') AS fsync, current_setting('work_mem') AS work_mem, current_setting('listen_addresses') AS listen",
      );
      assert.deepEqual(row, { port: String(port), fsync: 'off', work_mem: '7MB', listen: '127.0.0.1' });

      const pid = Number(readFileSync(`${server.dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
      assert.ok(pid > 0);
      await server.stop();
      stopped = true;
      assert.equal(await accepts(port), false, 'nothing accepts connections on the port');
      assert.equal(await isPortFree(port), true, 'the port is free again');
      assert.ok(processGone(pid), `postmaster ${pid} has exited`);
      assert.equal(existsSync(server.dataDir), false, 'the data dir is removed');
      await server.stop(); // a second stop is harmless
    } finally {
      if (!stopped) await server.stop();
    }
  });
});
