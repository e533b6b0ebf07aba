// `npm run dev` (scripts/dev.mjs), as someone changing the code uses it: on a copy of the
// sources (so that editing them cannot disturb the test files running beside it), it builds,
// serves on the embedded database with pino-pretty's readable lines, rebuilds and restarts on
// an edit under src/ (and the new code answers), keeps the running server when the build
// fails, and on Ctrl-C (SIGINT) stops the server cleanly, its last lines still printed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdtemp, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { pickFreePort } from '../support/ports.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** What dev.mjs reads: the sources, the build script beside it, the migrations, the package files. */
const COPIED = ['src', 'scripts', 'migrations', 'bin', 'package.json', 'package-lock.json'];

async function waitFor<T>(what: string, check: () => T | undefined, output: () => string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = check();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}. The output:\n${output()}`);
    await sleep(50);
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

it('npm run dev: readable logs, a rebuild and restart on an edit, a failed build keeps the server, Ctrl-C stops it cleanly', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'todoapp-dev-'));
  const pids: number[] = [];
  try {
    for (const entry of COPIED) await cp(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    const port = await pickFreePort();
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_PORT: String(await pickFreePort()),
      DATA_DIR: path.join(dir, 'data'),
    };
    const dev = spawn(process.execPath, [path.join(dir, 'scripts/dev.mjs')], {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    pids.push(dev.pid!);
    let stdout = '';
    let stderr = '';
    dev.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    dev.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const exited = once(dev, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const output = () => `--- stdout\n${stdout}\n--- stderr\n${stderr}`;
    /** The pid of the n-th server that said it listens, from pino-pretty's `INFO (pid): …`. */
    const listening = (n: number) => () => [...stdout.matchAll(/INFO \((\d+)\): todoapp is listening/g)][n]?.[1];
    const health = async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).json();

    const first = Number(await waitFor('the first server', listening(0), output, 60_000));
    pids.push(first);
    assert.match(stderr, /\[dev\] built in \d+ ms; serving \(DATA_DIR .*data, LOG_LEVEL debug\)/);
    assert.doesNotMatch(stdout, /^\{"level"/m, 'every line went through pino-pretty');
    assert.deepEqual(await health(), { status: 'ok' });
    assert.equal((await fetch(`http://127.0.0.1:${port}/login`)).status, 200);
    await waitFor("the request's log line", () => (stdout.includes('url: "/login"') ? true : undefined), output);
    assert.match(
      stdout,
      /INFO \(\d+\): request\n\s+reqId: "[\w-]+"\n\s+method: "GET"\n\s+url: "\/login"\n\s+status: 200/,
    );

    // An edit: the new code is built and served by a new process.
    const routes = path.join(dir, 'src/features/ops/routes.ts');
    const source = await readFile(routes, 'utf8');
    assert.match(source, /return \{ status: 'ok' \};/, 'the edit changes a line that exists');
    await writeFile(routes, source.replace(`return { status: 'ok' };`, `return { status: 'ok', edited: true };`));
    const second = Number(await waitFor('the server after the edit', listening(1), output));
    pids.push(second);
    assert.notEqual(second, first);
    assert.equal(alive(first), false, 'the old server has exited');
    assert.match(stderr, /\[dev\] features\/ops\/routes\.ts changed: built in \d+ ms, restarting/);
    assert.match(stdout, new RegExp(`INFO \\(${first}\\): shut down cleanly`), 'the old server stopped cleanly');
    assert.deepEqual(await health(), { status: 'ok', edited: true });

    // A file that does not build: the running server stays, and the message says why.
    const broken = path.join(dir, 'src/broken.ts');
    await writeFile(broken, 'export const broken = ;\n');
    await waitFor('the failed build', () => (stderr.includes('the build failed') ? true : undefined), output);
    assert.match(stderr, /\[dev\] the build failed, the server runs on unchanged: .*/);
    assert.equal(alive(second), true);
    assert.deepEqual(await health(), { status: 'ok', edited: true });
    await unlink(broken);
    const third = Number(await waitFor('the server after the fix', listening(2), output));
    pids.push(third);

    // Ctrl-C: the script stops the server, whose last lines still come through pino-pretty, and exits 0.
    dev.kill('SIGINT');
    const [code] = await exited;
    assert.equal(code, 0, output());
    assert.equal(alive(third), false, 'the server has exited');
    assert.match(stdout, new RegExp(`INFO \\(${third}\\): shut down cleanly`));
    await assert.rejects(health(), 'nothing listens any more');
    assert.equal([...stdout.matchAll(/todoapp is listening/g)].length, 3, 'no restart beyond the three');
  } finally {
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
