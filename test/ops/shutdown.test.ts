// Graceful shutdown of a real `todoapp serve` process: a request in flight
// when SIGTERM arrives still completes, then the process exits 0; likewise
// after an unhandled promise rejection, which is logged and exits 1.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/database.ts';
import { ENGINES, freshDatabase } from '../support/app.ts';
import { runCli, startCliServer, type CliServer } from '../support/cli.ts';

/** Sends a POST whose body is only half sent when `trigger` runs, then the rest; resolves with its answer. */
function postInFlight(
  server: CliServer,
  token: string,
  title: string,
  trigger: () => void,
): Promise<{ status: number; body: string }> {
  const url = new URL(server.baseUrl);
  const body = JSON.stringify({ title });
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: '/api/todos',
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          host: 'localhost',
        },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    request.on('error', reject);
    request.write(body.slice(0, 10));
    void sleep(300)
      .then(() => {
        trigger();
        return sleep(500);
      })
      .then(() => request.end(body.slice(10)));
  });
}

/** Set up as an operator would: migrate, create an admin and a token. */
async function prepare(env: Record<string, string>): Promise<string> {
  assert.equal((await runCli(['migrate'], env)).code, 0);
  const admin = await runCli(['createsuperuser', '--username', 'admin'], {
    ...env,
    TODOAPP_PASSWORD: 'a long admin passphrase',
  });
  assert.equal(admin.code, 0, admin.stderr);
  return (await runCli(['create-token', '--username', 'admin'], env)).stdout.trim();
}

async function titlesIn(env: Record<string, string>): Promise<string[]> {
  const db = await openDatabase(loadConfig(env));
  try {
    return (await db.query<{ title: string }>('SELECT title FROM todos')).map((row) => row.title);
  } finally {
    await db.close();
  }
}

for (const engine of ENGINES) {
  describe(`graceful shutdown on ${engine}`, () => {
    it('finishes the in-flight request, then exits 0', async () => {
      const database = await freshDatabase(engine);
      try {
        const token = await prepare(database.env);
        const server = await startCliServer(database.env);
        const answered = await postInFlight(server, token, 'sent during shutdown', () => server.child.kill('SIGTERM'));
        assert.equal(answered.status, 201, answered.body);
        assert.equal(await server.exited(), 0, server.output());
        assert.match(server.output(), /shut down cleanly/);
        assert.deepEqual(await titlesIn(database.env), ['sent during shutdown']);
      } finally {
        await database.cleanup();
      }
    });
  });
}

it('an unhandled promise rejection: logged as fatal, the in-flight request finished, then exit 1', async () => {
  const database = await freshDatabase('pglite');
  const dir = await mkdtemp(path.join(tmpdir(), 'todoapp-rejection-'));
  try {
    const token = await prepare(database.env);
    // A bug stands in for any: a module preloaded into the real server rejects a promise nobody handles on SIGUSR2.
    const bug = path.join(dir, 'unhandled-rejection.mjs');
    await writeFile(bug, "process.on('SIGUSR2', () => { Promise.reject(new Error('a promise nobody handled')); });\n");
    const server = await startCliServer({ ...database.env, NODE_OPTIONS: `--import=${pathToFileURL(bug).href}` });
    const answered = await postInFlight(server, token, 'sent as it failed', () => server.child.kill('SIGUSR2'));
    assert.equal(answered.status, 201, answered.body);
    assert.equal(await server.exited(), 1, server.output());
    const fatal = server
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; msg: string; err?: { message: string } })
      .find((entry) => entry.level === 60);
    assert.equal(fatal?.msg, 'unhandled promise rejection: shutting down', server.output());
    assert.equal(fatal?.err?.message, 'a promise nobody handled');
    assert.match(server.output(), /shut down cleanly/);
    assert.deepEqual(await titlesIn(database.env), ['sent as it failed']);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await database.cleanup();
  }
});
