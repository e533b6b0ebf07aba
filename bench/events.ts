// The live feed's fan-out (npm run bench:events): the app as it ships (the
// compiled build, the shipped settings, a durable PostgreSQL 15), N open
// GET /api/events streams of one person (N tabs of the same list: every
// change goes to all of them), and writers adding todos as fast as the app
// takes them. Printed per N: changes/s acknowledged (and as a ratio of the
// same writers with no stream open, in this run), events delivered/s, the
// delay from a change's acknowledgement to its event at a stream (p50, p99,
// sampled on 10 streams), streams dropped for not reading, and the app's
// resident memory per open stream.
//
//   npm run bench:events [-- --no-build] [--streams 0,100,1000] [--seconds 10]
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { ensureSystemPackages } from '../scripts/ensure-system-packages.ts';
import { pickFreePort } from '../test/support/ports.ts';
import { startPostgresServer, type PostgresServer } from '../test/support/postgres.ts';
import { CLI, memoryOf, startApp, type AppProcess } from './http/app-process.ts';
import { Children } from './http/children.ts';
import { seed } from './http/seed.ts';

const { values: args } = parseArgs({
  options: {
    'no-build': { type: 'boolean', default: false },
    streams: { type: 'string', default: '0,100,1000' },
    seconds: { type: 'string', default: '10' },
  },
});
const SECONDS = Number(args.seconds);
const WRITERS = 8;
const SAMPLED = 10;
const SECRET_KEY = randomBytes(36).toString('base64url');
const children = new Children();
const log = (line: string) => console.log(line);
let server: PostgresServer | undefined;
let workDir: string | undefined;

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

/** One open stream: counts the todo events it gets; a sampled one also notes when each arrives. */
function openStream(app: AppProcess, token: string, sampled: boolean) {
  const stream = { todoEvents: 0, arrivals: new Map<string, number>(), ready: false, closed: false, close: () => {} };
  const request = http.get(
    `${app.baseUrl}/api/events`,
    { agent: false, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } },
    (response) => {
      response.setEncoding('utf8');
      let tail = '';
      response.on('data', (chunk: string) => {
        const text = tail + chunk;
        tail = text.slice(-64);
        if (!stream.ready && text.includes('event: ready')) stream.ready = true;
        let at = text.indexOf('event: todo\n');
        while (at >= 0) {
          stream.todoEvents++;
          if (sampled) {
            const title = /"title":"w([0-9]+-[0-9]+)"/.exec(text.slice(at, at + 400));
            if (title?.[1]) stream.arrivals.set(title[1], performance.now());
          }
          at = text.indexOf('event: todo\n', at + 1);
        }
      });
      response.on('close', () => (stream.closed = true));
    },
  );
  request.on('error', () => (stream.closed = true));
  stream.close = () => request.destroy();
  return stream;
}

async function post(app: AppProcess, token: string, title: string): Promise<boolean> {
  return new Promise((resolve) => {
    const body = JSON.stringify({ title });
    const request = http.request(
      `${app.baseUrl}/api/todos`,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode === 201));
      },
    );
    request.on('error', () => resolve(false));
    request.end(body);
  });
}

interface Row {
  streams: number;
  changesPerSecond: number;
  eventsPerSecond: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  dropped: number;
  rssBytes: number;
  bytesPerStream: number | undefined;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function measure(app: AppProcess, token: string, count: number, idleRss: number): Promise<Row> {
  const streams = Array.from({ length: count }, (_, index) => openStream(app, token, index < SAMPLED));
  for (let waited = 0; streams.some((stream) => !stream.ready); waited += 50) {
    if (waited > 60_000) throw new Error(`only ${streams.filter((s) => s.ready).length} of ${count} streams opened`);
    await sleep(50);
  }
  await sleep(1000);
  const opened = await memoryOf(app.pid);
  const acknowledged = new Map<string, number>();
  let changes = 0;
  const until = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      for (let n = 0; performance.now() < until; n++) {
        const key = `${writer}-${n}`;
        if (await post(app, token, `w${key}`)) {
          acknowledged.set(key, performance.now());
          changes++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  // What is still on its way arrives within a few seconds, or counts as not delivered.
  const expected = changes * count;
  for (let waited = 0; waited < 10_000; waited += 100) {
    if (streams.reduce((sum, stream) => sum + stream.todoEvents, 0) >= expected) break;
    await sleep(100);
  }
  const delivered = streams.reduce((sum, stream) => sum + stream.todoEvents, 0);
  const delays: number[] = [];
  for (const stream of streams.slice(0, SAMPLED))
    for (const [key, arrived] of stream.arrivals) {
      const sent = acknowledged.get(key);
      if (sent !== undefined) delays.push(arrived - sent);
    }
  delays.sort((a, b) => a - b);
  const dropped = streams.filter((stream) => stream.closed).length;
  for (const stream of streams) stream.close();
  await sleep(500);
  return {
    streams: count,
    changesPerSecond: changes / elapsed,
    eventsPerSecond: delivered / elapsed,
    p50Ms: quantile(delays, 0.5),
    p99Ms: quantile(delays, 0.99),
    dropped,
    rssBytes: opened.rss,
    bytesPerStream: count > 0 ? (opened.rss - idleRss) / count : undefined,
  };
}

async function main(): Promise<void> {
  await ensureSystemPackages(['postgresql']);
  if (!args['no-build']) await children.run('npm', ['run', 'build']);
  workDir = await mkdtemp(path.join(tmpdir(), 'todoapp-bench-events-'));
  server = await startPostgresServer({ settings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } });
  const admin = postgres(server.url('postgres'), { max: 1, onnotice: () => {} });
  await admin.unsafe('CREATE DATABASE todoapp');
  await admin.end({ timeout: 5 });
  const env = { DATABASE_URL: server.url('todoapp'), SECRET_KEY, DATA_DIR: path.join(workDir, 'data') };
  await children.run(process.execPath, [CLI.pathname, 'migrate'], { env: { PATH: process.env.PATH, ...env } });
  const { token } = await seed(env.DATABASE_URL, SECRET_KEY);
  const app = await startApp(children, {
    ...env,
    PORT: String(await pickFreePort()),
    METRICS_PORT: String(await pickFreePort()),
  });
  const rows: Row[] = [];
  try {
    const idle = await memoryOf(app.pid);
    for (const count of args.streams.split(',').map(Number)) {
      log(`${count} streams…`);
      rows.push(await measure(app, token, count, idle.rss));
    }
  } finally {
    await app.stop(30_000);
  }
  const base = rows.find((row) => row.streams === 0)?.changesPerSecond;
  const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  console.log(
    `\nnpm run bench:events, ${new Date().toISOString()}: ${WRITERS} writers for ${SECONDS} s per row, every stream the same person's (each gets every change)\n`,
  );
  console.log(
    '| Open streams | Changes/s | vs no stream | Events delivered/s | Delay p50 / p99 | Dropped | App RSS | Per stream |',
  );
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows)
    console.log(
      `| ${row.streams} | ${row.changesPerSecond.toFixed(0)} | ${base ? `${((row.changesPerSecond / base) * 100).toFixed(0)}%` : '—'} | ${row.eventsPerSecond.toFixed(0)} | ${
        row.p50Ms === undefined ? '—' : `${row.p50Ms.toFixed(0)} / ${row.p99Ms?.toFixed(0)} ms`
      } | ${row.dropped} | ${mb(row.rssBytes)} MB | ${row.bytesPerStream === undefined ? '—' : `${(row.bytesPerStream / 1024).toFixed(1)} KB`} |`,
    );
}

try {
  await main();
} finally {
  await children.stopAll();
  await server?.stop().catch(() => {});
  if (workDir) await rm(workDir, { recursive: true, force: true });
}
