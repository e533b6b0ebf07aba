// `todoapp export-data` and `import-data`, the embedded database's backup, as
// docs/backups.md has an operator run them: refused (clearly, nothing
// written) while the server runs; after a stop, a file that a new DATA_DIR is
// restored from, with its accounts, tokens and exactly the todos of the time.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
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

it('export-data: refused while serving; after a stop, a file a new DATA_DIR is imported from', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'todoapp-export-'));
  const env = { DATA_DIR: path.join(dir, 'data') };
  const file = path.join(dir, 'todoapp-export.tar.gz');
  const servers: CliServer[] = [];
  const serve = async (dataDir: string) => {
    const server = await startCliServer({ DATA_DIR: dataDir });
    servers.push(server);
    return server;
  };
  try {
    const admin = await runCli(['createsuperuser', '--username', 'admin'], {
      ...env,
      TODOAPP_PASSWORD: 'a long admin passphrase',
    });
    assert.equal(admin.code, 0, admin.stderr);
    const token = (await runCli(['create-token', '--username', 'admin'], env)).stdout.trim();
    const exported = ['one', 'two', 'three'];
    let server = await serve(env.DATA_DIR);
    for (const title of exported) await add(server, token, title);

    const whileServing = await runCli(['export-data', '--out', file], env);
    assert.equal(whileServing.code, 1);
    assert.match(whileServing.stderr, /in use by a running todoapp.*Stop the server, run export-data again/s);
    assert.equal(existsSync(file), false, 'nothing written');

    assert.equal(await server.stop(), 0);
    const done = await runCli(['export-data', '--out', file], env);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /^Exported 3 todo\(s\) of 1 user\(s\) from .* to .*todoapp-export\.tar\.gz \(/);
    assert.equal((await stat(file)).mode & 0o777, 0o600, 'it holds the secret key: its owner only');
    const again = await runCli(['export-data', '--out', file], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists; name a new file/);

    // Life goes on after the export; the import brings back the time of the export.
    server = await serve(env.DATA_DIR);
    await add(server, token, 'after the export');
    assert.equal(await server.stop(), 0);

    const notEmpty = await runCli(['import-data', '--from', file], env);
    assert.equal(notEmpty.code, 1);
    assert.match(notEmpty.stderr, /is not empty: import into a new, empty folder/);
    const restoredDir = path.join(dir, 'restored');
    const imported = await runCli(['import-data', '--from', file], { DATA_DIR: restoredDir });
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /^Imported 3 todo\(s\) of 1 user\(s\) from /);
    // The same token works: the restored folder has the secret key its hash was made with.
    server = await serve(restoredDir);
    assert.deepEqual(await titles(server, token), [...exported].sort());
  } finally {
    for (const server of servers) await server.stop();
    await rm(dir, { recursive: true, force: true });
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
