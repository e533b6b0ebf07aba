// Cold start of the compiled build: from spawning `node dist/cli.js serve` to
// /readyz answering 200, and resident memory once it is up and idle.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pickFreePort } from '../../test/support/ports.ts';
import { memoryOf, startApp } from './app-process.ts';
import type { Children } from './children.ts';

export interface StartupResult {
  name: string;
  readyMs: number;
  idleRssBytes: number;
}

/** Idle: a second after ready, when start-up work (and its garbage) is behind it. */
const SETTLE_MS = 1000;

async function startOnce(children: Children, name: string, env: Record<string, string>): Promise<StartupResult> {
  const app = await startApp(children, { ...env, PORT: String(await pickFreePort()), METRICS_PORT: String(await pickFreePort()) });
  try {
    await sleep(SETTLE_MS);
    return { name, readyMs: app.readyAfterMs, idleRssBytes: (await memoryOf(app.pid)).rss };
  } finally {
    await app.stop();
  }
}

/**
 * The embedded database twice (a fresh folder, where the first start creates
 * the cluster, then the same folder again), and the PostgreSQL server.
 */
export async function measureStartup(children: Children, serverEnv: Record<string, string>): Promise<StartupResult[]> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'todoapp-bench-pglite-'));
  try {
    const embedded = { DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    return [
      await startOnce(children, 'PGlite, new data folder', embedded),
      await startOnce(children, 'PGlite, existing data', embedded),
      await startOnce(children, 'PostgreSQL server', serverEnv),
    ];
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}
