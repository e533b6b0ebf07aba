// The app under test: the compiled build (`node dist/cli.js serve`, started as the image starts it), one
// process, and what it costs in memory (from /proc, sampled while it runs).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Children, Started } from './children.ts';

export const CLI = new URL('../../dist/cli.js', import.meta.url);

/**
 * The V8 settings the image's ENTRYPOINT starts node with
 * (deploy/docker/Dockerfile; test/deploy/dockerfile.ts checks they agree).
 * A young generation of 4 MB semi-spaces instead of 16: the app's per-request
 * garbage is small and short-lived, and the larger nursery only held 30 MB
 * more resident under load, for no throughput (docs/decisions/009-performance.md).
 */
export const NODE_FLAGS = ['--max-semi-space-size=4'];

/**
 * The settings the app ships with: the Kubernetes base's config.env (the
 * same values the compose file and the image's defaults use), so the figures
 * are those of the app as it runs there, LOG_LEVEL=info and all. HOST and
 * PORT are the bench's own.
 */
export const SHIPPED_SETTINGS: Record<string, string> = Object.fromEntries(
  readFileSync(new URL('../../deploy/k8s/base/config.env', import.meta.url), 'utf8')
    .split('\n')
    .map((line) => /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim()))
    .filter((match): match is RegExpExecArray => match !== null && match[1] !== 'HOST' && match[1] !== 'PORT')
    .map((match) => [match[1] as string, match[2] as string]),
);

export interface AppProcess extends Started {
  baseUrl: string;
  /** The metrics listener (METRICS_PORT): where the app's own request counters are read. */
  metricsUrl: string;
  pid: number;
  /** Milliseconds from spawn until /readyz answered 200. */
  readyAfterMs: number;
}

export async function startApp(
  children: Children,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<AppProcess> {
  const port = env.PORT;
  const metricsPort = env.METRICS_PORT;
  if (!port || !metricsPort) throw new Error('PORT and METRICS_PORT must be set');
  const baseUrl = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const app = children.start(process.execPath, [...NODE_FLAGS, ...nodeArgs, CLI.pathname, 'serve'], {
    // Only what is named here, so the caller's settings never leak in.
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      ...SHIPPED_SETTINGS,
      HOST: '127.0.0.1',
      ...env,
    },
  });
  const deadline = started + 60_000;
  while (performance.now() < deadline) {
    if (app.child.exitCode !== null)
      throw new Error(`todoapp serve exited with ${app.child.exitCode}:\n${app.output()}`);
    const status = await fetchStatus(`${baseUrl}/readyz`);
    if (status === 200)
      return {
        ...app,
        baseUrl,
        metricsUrl: `http://127.0.0.1:${metricsPort}`,
        pid: app.child.pid ?? 0,
        readyAfterMs: performance.now() - started,
      };
    await sleep(10);
  }
  await app.stop();
  throw new Error(`todoapp serve was not ready within 60 s:\n${app.output()}`);
}

function fetchStatus(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const request = http.get(url, { agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on('error', () => resolve(undefined));
  });
}

/** Resident memory now and at its peak (VmHWM), in bytes. */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kilobytes = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kilobytes('VmRSS'), peak: kilobytes('VmHWM') };
}

/** Polls RSS every `everyMs` until stopped; answers the highest value seen. */
export function sampleRss(pid: number, everyMs = 100): { stop(): Promise<number> } {
  let highest = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        highest = Math.max(highest, (await memoryOf(pid)).rss);
      } catch {
        return;
      }
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return highest;
    },
  };
}

/** Clock ticks per second of /proc's CPU times. */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time the process has used so far (user and system), in microseconds. */
export async function cpuTimeOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (ticks / CLOCK_TICKS) * 1e6;
}
