// `todoapp export-data` and `import-data`, the embedded database's backup, as
// docs/backups.md has an operator run them: while a real `serve` runs and
// takes writes, the export is the server's own consistent copy (asked for
// over its owner-only socket in DATA_DIR); a new DATA_DIR imported from it,
// with no server on it, serves every todo written before the export and an
// unbroken run of those written during it. With no server running (or after
// one died, leaving its socket), the export reads the folder under its lock.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdtemp, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import type { TodoJson } from '../support/app.ts';
import { runCli, startCliServer, type CliServer } from '../support/cli.ts';

async function titles(server: CliServer, token: string): Promise<string[]> {
  const response = await fetch(`${server.baseUrl}/api/todos`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200, await response.clone().text());
  return ((await response.json()) as TodoJson[]).map((todo) => todo.title).sort();
}

async function add(server: CliServer, token: string, title: string): Promise<void> {
  const response = await fetch(`${server.baseUrl}/api/todos`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ title }),
  });
  assert.equal(response.status, 201, await response.text());
}

/** A new DATA_DIR with an admin and a token for it, made with no server running. */
async function newDataDir(dir: string): Promise<{ env: { DATA_DIR: string }; token: string }> {
  const env = { DATA_DIR: path.join(dir, 'data') };
  const admin = await runCli(['createsuperuser', '--username', 'admin'], {
    ...env,
    TODOAPP_PASSWORD: 'a long admin passphrase',
  });
  assert.equal(admin.code, 0, admin.stderr);
  const token = (await runCli(['create-token', '--username', 'admin'], env)).stdout.trim();
  return { env, token };
}

/** Asks the export socket something it does not offer; resolves to its one-line answer. */
function askSocket(socketPath: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath, () => socket.write(request));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

/** A temporary folder, and `todoapp serve` on a data folder in it; cleanUp stops the servers and removes it. */
async function workspace() {
  const dir = await mkdtemp(path.join(tmpdir(), 'todoapp-export-'));
  const servers: CliServer[] = [];
  return {
    dir,
    serve: async (dataDir: string) => {
      const server = await startCliServer({ DATA_DIR: dataDir });
      servers.push(server);
      return server;
    },
    cleanUp: async () => {
      for (const server of servers) await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

it('export-data while serving and taking writes: a consistent copy; imported into a new DATA_DIR, every todo is there', async () => {
  const { dir, serve, cleanUp } = await workspace();
  let writing = true;
  try {
    const { env, token } = await newDataDir(dir);
    const file = path.join(dir, 'todoapp-export.tar.gz');
    const socketPath = path.join(env.DATA_DIR, 'todoapp.sock');
    const server = await serve(env.DATA_DIR);
    assert.match(server.output(), /"exportSocket":"[^"]*todoapp\.sock"/);
    const socket = await lstat(socketPath);
    assert.ok(socket.isSocket());
    assert.equal(socket.mode & 0o777, 0o600, 'the socket: its owner only');
    assert.match(await askSocket(socketPath, 'something else\n'), /^\{"ok":false,"error":"unknown request/);

    const before = Array.from({ length: 20 }, (_, index) => `before ${String(index).padStart(2, '0')}`);
    for (const title of before) await add(server, token, title);

    // One writer adding "during 0000", "during 0001", … one after the other, through and past the export.
    const acknowledged: string[] = [];
    const writer = (async () => {
      for (let index = 0; writing; index++) {
        const title = `during ${String(index).padStart(4, '0')}`;
        await add(server, token, title);
        acknowledged.push(title);
      }
    })();
    while (acknowledged.length < 5) await new Promise((resolve) => setTimeout(resolve, 10));
    const acknowledgedBeforeExport = acknowledged.length;
    const exported = await runCli(['export-data', '--out', file], env);
    const acknowledgedAfterExport = acknowledged.length;
    while (acknowledged.length < acknowledgedAfterExport + 5) await new Promise((resolve) => setTimeout(resolve, 10));
    writing = false;
    await writer;

    assert.equal(exported.code, 0, exported.stderr);
    const match =
      /^Exported (\d+) todo\(s\) of 1 user\(s\) from .* \(the running server\) to .*todoapp-export\.tar\.gz \(/.exec(
        exported.stdout,
      );
    assert.ok(match, exported.stdout);
    const count = Number(match[1]);
    assert.equal((await stat(file)).mode & 0o777, 0o600, 'it holds the secret key: its owner only');
    assert.ok(acknowledgedAfterExport > acknowledgedBeforeExport, 'the server took writes while it exported');
    assert.match(server.output(), /export-data: sent a copy of the embedded database/);

    // Import is for a folder no server runs on: the live one is refused, untouched.
    const intoLive = await runCli(['import-data', '--from', file], env);
    assert.equal(intoLive.code, 1);
    assert.match(intoLive.stderr, /is not empty: import into a new, empty folder/);

    assert.equal(await server.stop(), 0);
    assert.equal(existsSync(socketPath), false, 'the socket goes with the server');

    const restoredDir = path.join(dir, 'restored');
    const imported = await runCli(['import-data', '--from', file], { DATA_DIR: restoredDir });
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, new RegExp(`^Imported ${count} todo\\(s\\) of 1 user\\(s\\) from `));
    // The same token works: the restored folder has the secret key its hash was made with.
    const restored = await titles(await serve(restoredDir), token);
    assert.equal(restored.length, count, 'the count export-data printed is the copy’s');
    for (const title of before) assert.ok(restored.includes(title), `${title} is there`);
    // Consistent: the writes acknowledged before the export began, and after them an unbroken run of the
    // writer's todos (each written after the one before it was acknowledged), none past the export's end.
    const during = restored.filter((title) => title.startsWith('during '));
    assert.deepEqual(during, acknowledged.slice(0, during.length), 'a prefix of the writer’s todos');
    assert.ok(during.length >= acknowledgedBeforeExport, 'every write acknowledged before the export is there');
    assert.ok(during.length <= acknowledgedAfterExport + 1, 'nothing written after the export ended');
    assert.equal(restored.length, before.length + during.length);
  } finally {
    writing = false;
    await cleanUp();
  }
});

it('export-data with no server running: from the folder under its lock, also after a server died and left its socket', async () => {
  const { dir, serve, cleanUp } = await workspace();
  try {
    const { env, token } = await newDataDir(dir);
    const file = path.join(dir, 'todoapp-export.tar.gz');
    const socketPath = path.join(env.DATA_DIR, 'todoapp.sock');
    let server = await serve(env.DATA_DIR);
    for (const title of ['one', 'two', 'three']) await add(server, token, title);
    // Killed: no shutdown, so the socket file and the lock stay behind.
    await server.stop('SIGKILL');
    assert.ok((await lstat(socketPath)).isSocket(), 'a dead server’s socket is left');

    const done = await runCli(['export-data', '--out', file], env);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /^Exported 3 todo\(s\) of 1 user\(s\) from \S+ to .*todoapp-export\.tar\.gz \(/);
    assert.doesNotMatch(done.stdout, /running server/);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const again = await runCli(['export-data', '--out', file], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists; name a new file/);

    // A new server replaces the dead one's socket; life goes on after the export.
    server = await serve(env.DATA_DIR);
    assert.equal((await lstat(socketPath)).mode & 0o777, 0o600);
    await add(server, token, 'after the export');
    assert.equal(await server.stop(), 0);

    const restoredDir = path.join(dir, 'restored');
    const imported = await runCli(['import-data', '--from', file], { DATA_DIR: restoredDir });
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /^Imported 3 todo\(s\) of 1 user\(s\) from /);
    server = await serve(restoredDir);
    assert.deepEqual(await titles(server, token), ['one', 'three', 'two']);
  } finally {
    await cleanUp();
  }
});

it('export-data on a server database points to PostgreSQL’s own tools', async () => {
  const result = await runCli(['export-data', '--out', path.join(tmpdir(), 'never-written.tar.gz')], {
    DATABASE_URL: 'postgres://todoapp@127.0.0.1:1/todoapp',
    SECRET_KEY: 'a-test-secret-key-that-is-long-enough-0123456789',
  });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /works on the embedded database \(DATA_DIR\).*docs\/backups\.md/);
});
