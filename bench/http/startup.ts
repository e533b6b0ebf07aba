// Cold starts, from spawning the process to the app answering, and resident
// memory once it is up and idle:
//   - the compiled build as the image runs it (`node dist/cli.js serve`) on
//     the embedded database (a new data folder, then the same one again) and
//     on the PostgreSQL server, ready meaning /readyz answers 200;
//   - `npm start` as a newcomer runs it (it builds, then serves on a new, then
//     an existing ./data), to the first page, with the memory of every process
//     it takes (npm, its shell and the server).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { pickFreePort } from '../../test/support/ports.ts';
import { memoryOf, startApp } from './app-process.ts';
import type { Children } from './children.ts';
import { residentBytes } from './resident.ts';

export interface StartupResult {
  name: string;
  readyMs: number;
  /** The sum of the processes' RSS (what each reports on its own). */
  idleRssBytes: number;
  /** Resident in all, pages the processes share counted once (resident.ts); undefined if not root. */
  idleResidentBytes: number | undefined;
  /** Issue 13's targets for `npm start`: time to the first page, memory resident in all. */
  target?: { readyMs: number; residentBytes: number };
}

const NPM_START_RESIDENT_TARGET = 200 * 2 ** 20;

/** Idle: a second after ready, when start-up work (and its garbage) is behind it. */
const SETTLE_MS = 1000;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function startOnce(children: Children, name: string, env: Record<string, string>): Promise<StartupResult> {
  const app = await startApp(children, {
    ...env,
    PORT: String(await pickFreePort()),
    METRICS_PORT: String(await pickFreePort()),
  });
  try {
    await sleep(SETTLE_MS);
    return {
      name,
      readyMs: app.readyAfterMs,
      idleRssBytes: (await memoryOf(app.pid)).rss,
      idleResidentBytes: await residentBytes([app.pid]),
    };
  } finally {
    await app.stop();
  }
}

/** `pid` and every process below it. */
async function processTree(pid: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i] as number) ?? []));
  return tree;
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    http
      .get(url, { agent: false }, (response) => {
        response.resume();
        resolve(true);
      })
      .on('error', () => resolve(false));
  });
}

/** `npm start` in the checkout, its own process group (npm does not always pass SIGTERM on). */
async function npmStartOnce(name: string, dataDir: string, targetMs: number): Promise<StartupResult> {
  const port = await pickFreePort();
  const started = performance.now();
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    detached: true,
    stdio: 'ignore',
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, PORT: String(port) },
  });
  const exited = once(child, 'exit');
  try {
    while (!(await answers(`http://127.0.0.1:${port}/`))) {
      if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}`);
      if (performance.now() - started > 60_000) throw new Error('npm start did not answer within 60 s');
      await sleep(10);
    }
    const readyMs = performance.now() - started;
    await sleep(SETTLE_MS);
    let rss = 0;
    const tree = await processTree(child.pid as number);
    for (const pid of tree)
      rss += await memoryOf(pid).then(
        (memory) => memory.rss,
        () => 0,
      );
    return {
      name,
      readyMs,
      idleRssBytes: rss,
      idleResidentBytes: await residentBytes(tree),
      target: { readyMs: targetMs, residentBytes: NPM_START_RESIDENT_TARGET },
    };
  } finally {
    process.kill(-(child.pid as number), 'SIGTERM');
    await exited;
  }
}

/**
 * The embedded database twice (a fresh folder, whose cluster is a copy of the
 * kept one, then the same folder again), the PostgreSQL server, then `npm start`.
 */
export async function measureStartup(children: Children, serverEnv: Record<string, string>): Promise<StartupResult[]> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'todoapp-bench-pglite-'));
  const npmDataDir = await mkdtemp(path.join(tmpdir(), 'todoapp-bench-npm-start-'));
  try {
    const embedded = { DATA_DIR: dataDir };
    return [
      await startOnce(children, 'PGlite, new data folder', embedded),
      await startOnce(children, 'PGlite, existing data', embedded),
      await startOnce(children, 'PostgreSQL server', serverEnv),
      await npmStartOnce('npm start, new ./data (npm + server)', path.join(npmDataDir, 'data'), 2500),
      await npmStartOnce('npm start, existing ./data (npm + server)', path.join(npmDataDir, 'data'), 1500),
    ];
  } finally {
    await rm(dataDir, { recursive: true, force: true });
    await rm(npmDataDir, { recursive: true, force: true });
  }
}
