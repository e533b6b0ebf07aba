// `npm run bench`: how fast the app serves its four everyday requests, next to
// what this machine can do at all for the same work, in the same run.
//
//   npm run bench                       the whole run (about 3 minutes)
//   npm run bench -- --seconds 5        shorter measurements (default 10 s each)
//   npm run bench -- --profile          also writes a CPU profile of the app (node --cpu-prof)
//   npm run bench -- --no-build         use dist/ as it is
//   npm run bench -- --only POST        only the scenarios whose name contains it (and no start-up figures)
//   npm run bench -- --only start-up    only the start-up figures
//   npm run bench -- --node-flags="--max-semi-space-size=4"   node flags for the app process (to try V8 settings)
//
// What it does, in order:
//  1. starts a real, durable PostgreSQL 15 (fsync, synchronous_commit and
//     full_page_writes on, unlike the test servers), migrates it with the
//     compiled CLI, and makes one person with 100 todos, an API token and a
//     logged-in session;
//  2. starts the app from its compiled build: one `node dist/cli.js serve`
//     process, with the settings it ships with (deploy/k8s/base/config.env:
//     LOG_LEVEL=info, a pool of 10 connections) and the image's node flags;
//  3. per scenario, loads it from a separate process (wrk, one thread) with a
//     fixed number of connections: a warm-up, then the measured run. The
//     app's own counters (/metrics, on METRICS_PORT) confirm every response was 2xx;
//  4. measures the limits right after each scenario:
//     - the database: pgbench running the scenario's SQL (the list's select
//       for the same person, the same insert, the same update) on the same
//       server, prepared statements, as many clients as the app has connections;
//     - HTTP: a bare node:http server, also one process, answering the same
//       bytes the app answered (headers and compressed body);
//  5. prints a table and writes it as JSON to bench/results/ (git-ignored).
//     Any non-2xx response or socket error fails the run (exit 1).
//
// Fairness on a two-core machine: the app is one Node process (its JavaScript
// runs on one core) while PostgreSQL and the load generator need the rest. wrk
// is C and runs one thread, so it takes far less CPU than a Node load
// generator would; pgbench gets the same two cores and the same server, with
// 10 clients (the app's pool) and 2 threads; the bare server gets exactly the
// app's conditions. The app and its limits never run at the same time.
//
// What the requests send: the list page carries the session cookie and the
// Accept-Encoding a browser sends (gzip, deflate, br), so it is compressed as
// a browser gets it; the API calls send the same Accept-Encoding (as fetch,
// curl --compressed, Python requests and Go do), a token, and for writes a
// fresh Idempotency-Key each, as the page's own script does.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { ensureSystemPackages } from '../scripts/ensure-system-packages.ts';
import { requireNode22 } from '../scripts/node-version.ts';
import { pickFreePort } from '../test/support/ports.ts';
import { startPostgresServer, type PostgresServer } from '../test/support/postgres.ts';
import { CLI, cpuTimeOf, memoryOf, sampleRss, startApp, type AppProcess } from './http/app-process.ts';
import { Children } from './http/children.ts';
import { countsBetween, rawRequest, requestCounts } from './http/client.ts';
import { runPgbench, type PgbenchResult } from './http/pgbench.ts';
import { formatSummary, summariseFile } from './http/profile.ts';
import { canEdit, editableListIds } from '../src/features/lists/access.ts';
import { TODO_COLUMNS } from '../src/features/todos/repository.ts';
import { seed, TODO_COUNT, type Seeded } from './http/seed.ts';
import { measureStartup, type StartupResult } from './http/startup.ts';
import { luaTable, runWrk, type LoadRequest, type LoadResult } from './http/wrk.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    profile: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    only: { type: 'string' },
    'node-flags': { type: 'string', default: '' },
  },
  strict: true,
});

const MEASURE_S = Number(args.seconds);
const WARMUP_S = Number(args.warmup);
/**
 * Keep-alive connections from wrk. Enough to keep the app's 10 database
 * connections busy with pipelined queries and its event loop saturated; more
 * only adds queueing (latency) without throughput.
 */
const CONNECTIONS = Number(args.connections);
/** pgbench: as many clients as the app has database connections (DB_POOL_SIZE default), one thread per core. */
const PGBENCH_CLIENTS = 10;
const PGBENCH_THREADS = 2;
const DURABLE = { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' };
const SECRET_KEY = randomBytes(36).toString('base64url');
/** What Chromium and Firefox send over plain HTTP (zstd aside, which the app does not offer). */
const ACCEPT_ENCODING = 'gzip, deflate, br';

// The SQL of each scenario's limit, with the columns the repository selects:
// the list's full select (what the app runs when a list changed; on an
// unchanged one it asks only for versions), the todo's insert and update,
// each with the list's membership check as the app's statements make it
// (and firing the same triggers: the change log and its NOTIFY).
const LIST_SQL = `SELECT ${TODO_COLUMNS} FROM todos WHERE list_id = :list ORDER BY created_at DESC, id DESC;`;
const INSERT_SQL = `INSERT INTO todos (list_id, owner_id, title, notes, due_date, completed, "order")
SELECT l.id, l.owner_id, 'A new todo from the benchmark', '', NULL, false, coalesce(NULL, (SELECT least(coalesce(max("order"), 0), 2147483646) + 1 FROM todos WHERE list_id = :list))
FROM lists l WHERE l.id = :list AND ${canEdit('l.id', ':owner')}
RETURNING ${TODO_COLUMNS};`;
const UPDATE_SQL = `\\set id :first + random(0, ${TODO_COUNT - 1})
\\set c random(0, 1)
UPDATE todos SET completed = (:c = 1), updated_at = now() WHERE id = :id AND list_id IN (${editableListIds(':owner')}) RETURNING ${TODO_COLUMNS};`;

interface Scenario {
  name: string;
  /** The route as /metrics labels it. */
  metricsRoute: string;
  /** Another request the scenario makes, whose statuses count too. */
  alsoCounted?: { method: string; metricsRoute: string };
  request: LoadRequest;
  status: number;
  limit: { name: string; sql: string };
  /** The share of the database limit the app must reach, as shipped (issue 13). */
  target?: number;
}

function scenarios(seeded: Seeded): Scenario[] {
  const api = {
    authorization: `Bearer ${seeded.token}`,
    accept: 'application/json',
    'accept-encoding': ACCEPT_ENCODING,
  };
  const write = { ...api, 'content-type': 'application/json' };
  const page = {
    cookie: `todoapp_session=${seeded.sessionId}`,
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'accept-encoding': ACCEPT_ENCODING,
  };
  return [
    {
      name: 'GET / (page, 100 todos)',
      metricsRoute: '/',
      request: {
        method: 'GET',
        path: '/',
        headers: page,
      },
      status: 200,
      limit: { name: 'select', sql: LIST_SQL },
      target: 0.3,
    },
    {
      name: 'GET /api/todos (100)',
      metricsRoute: '/api/todos',
      request: { method: 'GET', path: '/api/todos', headers: api },
      status: 200,
      limit: { name: 'select', sql: LIST_SQL },
      target: 0.45,
    },
    {
      name: 'PATCH /api/todos/{id}',
      metricsRoute: '/api/todos/:id',
      request: {
        method: 'PATCH',
        path: `/api/todos/${seeded.todoIds[0]}`,
        headers: write,
        body: '{"completed":true}',
        // Walks through the 100 todos, flipping each one's completion on every pass.
        lua: {
          setup: `local ids = { ${seeded.todoIds.join(', ')} }`,
          request: `  local i = n % #ids + 1
  local completed = math.floor(n / #ids) % 2 == 0
  headers["idempotency-key"] = prefix .. "-" .. n
  return wrk.format(nil, "/api/todos/" .. ids[i], headers, '{"completed":' .. tostring(completed) .. '}')`,
        },
      },
      status: 200,
      limit: { name: 'update', sql: UPDATE_SQL },
    },
    {
      // Not a target of the issue: what a view costs when the list changed
      // just before it (as after every form post), so that the kept list
      // bodies and page items cannot be reused. Every other request toggles
      // one todo through the API; the req/s counts both kinds.
      name: 'GET / after each change (with PATCH)',
      metricsRoute: '/',
      alsoCounted: { method: 'PATCH', metricsRoute: '/api/todos/:id' },
      request: {
        method: 'GET',
        path: '/',
        headers: page,
        lua: {
          setup: `local ids = { ${seeded.todoIds.join(', ')} }
local patch = ${luaTable(write)}`,
          request: `  if n % 2 == 1 then return wrk.format(nil, nil, headers, nil) end
  local i = math.floor(n / 2) % #ids + 1
  patch["idempotency-key"] = prefix .. "-" .. n
  return wrk.format("PATCH", "/api/todos/" .. ids[i], patch, '{"completed":' .. tostring(math.floor(n / 2 / #ids) % 2 == 0) .. '}')`,
        },
      },
      status: 200,
      limit: { name: 'select', sql: LIST_SQL },
    },
    {
      name: 'POST /api/todos',
      metricsRoute: '/api/todos',
      request: {
        method: 'POST',
        path: '/api/todos',
        headers: write,
        body: '{"title":"A new todo from the benchmark"}',
        lua: {
          request: `  headers["idempotency-key"] = prefix .. "-" .. n\n  return wrk.format(nil, nil, headers, nil)`,
        },
      },
      status: 201,
      limit: { name: 'insert', sql: INSERT_SQL },
      target: 0.35,
    },
  ];
}

interface ScenarioResult {
  name: string;
  app: LoadResult & {
    errors: number;
    statuses: Record<string, number>;
    peakRssBytes: number;
    cpuMicrosPerRequest: number;
    responseBytes: number;
    contentEncoding: string | null;
  };
  database: PgbenchResult & { script: string };
  http: LoadResult;
  target?: number;
}

const children = new Children();
let server: PostgresServer | undefined;
let workDir: string | undefined;

const log = (line: string) => console.error(line);

async function createDatabase(pg: PostgresServer): Promise<string> {
  const sql = postgres(pg.url('postgres'), { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe('CREATE DATABASE todoapp');
  } finally {
    await sql.end({ timeout: 5 });
  }
  return pg.url('todoapp');
}

async function startBareServer(captured: object, name: string): Promise<{ baseUrl: string; stop(): Promise<void> }> {
  const file = path.join(workDir ?? tmpdir(), `${name}.response.json`);
  await writeFile(file, JSON.stringify(captured));
  const port = await pickFreePort();
  const bare = children.start(process.execPath, [
    '--import',
    'tsx',
    new URL('./http/bare-server.ts', import.meta.url).pathname,
    file,
    String(port),
  ]);
  for (let waited = 0; !bare.output().includes('listening'); waited += 20) {
    if (bare.child.exitCode !== null || waited > 20_000)
      throw new Error(`the bare server did not start:\n${bare.output()}`);
    await sleep(20);
  }
  return { baseUrl: `http://127.0.0.1:${port}`, stop: () => bare.stop() };
}

async function runScenario(
  app: AppProcess,
  scenario: Scenario,
  seeded: Seeded,
  index: number,
): Promise<ScenarioResult> {
  const scriptDir = workDir ?? tmpdir();
  const { request } = scenario;
  log(`\n${scenario.name}`);
  // What the app answers to this request, byte for byte, before loading it.
  const captured = await rawRequest(`${app.baseUrl}${request.path}`, {
    method: request.method,
    headers: { ...request.headers, ...(request.lua ? { 'idempotency-key': `capture-${index}` } : {}) },
    body: request.body,
  });
  if (captured.status !== scenario.status)
    throw new Error(
      `${scenario.name}: expected ${scenario.status}, got ${captured.status}: ${captured.body.toString().slice(0, 500)}`,
    );

  const load = (url: string, seconds: number, prefix: string) =>
    runWrk(children, request, { url, connections: CONNECTIONS, seconds, prefix, scriptDir });
  const before = await requestCounts(app.metricsUrl);
  await load(app.baseUrl, WARMUP_S, `warm${index}-${randomBytes(4).toString('hex')}`);
  const sampler = sampleRss(app.pid);
  const cpuBefore = await cpuTimeOf(app.pid);
  const measured = await load(app.baseUrl, MEASURE_S, `run${index}-${randomBytes(4).toString('hex')}`);
  const cpuMicrosPerRequest = ((await cpuTimeOf(app.pid)) - cpuBefore) / measured.requests;
  const peakRssBytes = await sampler.stop();
  const after = await requestCounts(app.metricsUrl);
  const statuses = countsBetween(before, after, request.method, scenario.metricsRoute);
  if (scenario.alsoCounted) {
    for (const [status, count] of countsBetween(
      before,
      after,
      scenario.alsoCounted.method,
      scenario.alsoCounted.metricsRoute,
    ))
      statuses.set(status, (statuses.get(status) ?? 0) + count);
  }
  const non2xx = [...statuses]
    .filter(([status]) => status < 200 || status > 299)
    .reduce((sum, [, count]) => sum + count, 0);
  const errors = non2xx + measured.socketErrors + measured.wrkStatusErrors;
  log(
    `  app      ${measured.requestsPerSecond.toFixed(0)} req/s, p50 ${measured.p50Ms.toFixed(2)} ms, p99 ${measured.p99Ms.toFixed(2)} ms, ` +
      `errors ${errors}, peak RSS ${(peakRssBytes / 2 ** 20).toFixed(0)} MB, ${cpuMicrosPerRequest.toFixed(0)} µs CPU per request`,
  );

  const database = await runPgbench(children, scenario.limit.name, scenario.limit.sql, {
    url: server?.url('todoapp') ?? '',
    clients: PGBENCH_CLIENTS,
    threads: PGBENCH_THREADS,
    seconds: MEASURE_S,
    variables: { owner: seeded.userId, list: seeded.listId, first: seeded.todoIds[0] ?? 1 },
    scriptDir,
  });
  log(`  pgbench  ${database.tps.toFixed(0)} tps (${scenario.limit.name})`);

  const bare = await startBareServer(captured, `bare${index}`);
  let http: LoadResult;
  try {
    await load(bare.baseUrl, WARMUP_S, `bwarm${index}`);
    http = await load(bare.baseUrl, MEASURE_S, `brun${index}`);
  } finally {
    await bare.stop();
  }
  log(`  bare     ${http.requestsPerSecond.toFixed(0)} req/s`);

  return {
    name: scenario.name,
    app: {
      ...measured,
      errors,
      statuses: Object.fromEntries([...statuses].map(([status, count]) => [String(status), count])),
      peakRssBytes,
      cpuMicrosPerRequest,
      responseBytes: captured.body.length,
      contentEncoding: captured.headers['content-encoding'] ?? null,
    },
    database: { ...database, script: scenario.limit.sql },
    http,
    target: scenario.target,
  };
}

function table(results: ScenarioResult[]): string {
  const header = [
    'scenario',
    'req/s',
    'p50 ms',
    'p99 ms',
    'errors',
    'peak RSS MB',
    'app CPU µs/req',
    'pgbench tps',
    'of pgbench',
    'target',
    'bare node req/s',
    'of bare node',
  ];
  const percent = (ratio: number) => `${(ratio * 100).toFixed(1)}%`;
  const rows = results.map((result) => {
    const ratio = result.app.requestsPerSecond / result.database.tps;
    return [
      result.name,
      result.app.requestsPerSecond.toFixed(0),
      result.app.p50Ms.toFixed(2),
      result.app.p99Ms.toFixed(2),
      String(result.app.errors),
      (result.app.peakRssBytes / 2 ** 20).toFixed(0),
      result.app.cpuMicrosPerRequest.toFixed(0),
      `${result.database.tps.toFixed(0)} (${result.database.script.includes('INSERT') ? 'insert' : result.database.script.includes('UPDATE') ? 'update' : 'select'})`,
      percent(ratio),
      result.target === undefined ? '—' : `≥ ${percent(result.target)} ${ratio >= result.target ? 'met' : 'MISSED'}`,
      result.http.requestsPerSecond.toFixed(0),
      percent(result.app.requestsPerSecond / result.http.requestsPerSecond),
    ];
  });
  return [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

/** Issue 13: the app as shipped stays within this under the whole benchmark. */
const PEAK_RSS_TARGET = 150 * 2 ** 20;
const megabytes = (bytes: number | undefined) => (bytes === undefined ? '—' : (bytes / 2 ** 20).toFixed(0));
const verdict = (met: boolean) => (met ? 'met' : 'MISSED');

function startupTable(results: StartupResult[]): string {
  const header = ['start-up', 'ready after ms', 'idle RSS MB (sum)', 'resident in all MB', 'target'];
  const rows = results.map((result) => {
    const { target } = result;
    const resident = result.idleResidentBytes ?? result.idleRssBytes;
    const goal = target
      ? `≤ ${target.readyMs} ms ${verdict(result.readyMs <= target.readyMs)}, ≤ ${megabytes(target.residentBytes)} MB ${verdict(resident <= target.residentBytes)}`
      : '—';
    return [
      result.name,
      result.readyMs.toFixed(0),
      megabytes(result.idleRssBytes),
      megabytes(result.idleResidentBytes),
      goal,
    ];
  });
  return [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

/** Where the app's CPU time went (node --cpu-prof writes the profile when it exits). */
async function printProfile(folder: string, pid: number): Promise<void> {
  const file = (await readdir(folder)).find((name) => name.includes(`.${pid}.`) && name.endsWith('.cpuprofile'));
  if (!file) return log(`no CPU profile of process ${pid} in ${folder}`);
  log(
    `\n${path.join(path.relative(process.cwd(), folder), file)}\n${formatSummary(await summariseFile(path.join(folder, file)), 30)}`,
  );
}

async function main(): Promise<number> {
  // The app process is started with process.execPath: the same Node 22 as the image's.
  requireNode22('npm run bench');
  await ensureSystemPackages(['postgresql', 'wrk']);
  if (!args['no-build']) {
    log('npm run build');
    await children.run('npm', ['run', 'build']);
  }
  workDir = await mkdtemp(path.join(tmpdir(), 'todoapp-bench-'));
  const started = new Date();
  log('PostgreSQL 15 (durable: fsync, synchronous_commit, full_page_writes on)');
  server = await startPostgresServer({ settings: DURABLE });
  const databaseUrl = await createDatabase(server);
  const env = { DATABASE_URL: databaseUrl, SECRET_KEY, DATA_DIR: path.join(workDir, 'data') };
  await children.run(process.execPath, [CLI.pathname, 'migrate'], { env: { PATH: process.env.PATH, ...env } });
  const seeded = await seed(databaseUrl, SECRET_KEY);
  const profileDir = path.resolve('bench/results/profiles');
  if (args.profile) await mkdir(profileDir, { recursive: true });
  const app = await startApp(
    children,
    { ...env, PORT: String(await pickFreePort()), METRICS_PORT: String(await pickFreePort()) },
    [
      ...args['node-flags'].split(/\s+/).filter(Boolean),
      ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    ],
  );
  const idle = await memoryOf(app.pid);
  log(`app ready after ${app.readyAfterMs.toFixed(0)} ms, idle RSS ${(idle.rss / 2 ** 20).toFixed(0)} MB`);

  const results: ScenarioResult[] = [];
  let startup: StartupResult[] = [];
  try {
    for (const [index, scenario] of scenarios(seeded).entries()) {
      if (args.only === undefined || scenario.name.includes(args.only))
        results.push(await runScenario(app, scenario, seeded, index));
    }
    // Last, so that the PGlite data folders it writes are not still being
    // flushed to disk while a scenario runs.
    if (args.only === undefined || 'start-up'.includes(args.only)) {
      log('\nstart-up: PGlite (new and existing data folder), PostgreSQL, npm start');
      startup = await measureStartup(children, env);
      for (const result of startup)
        log(
          `  ${result.name}: ready after ${result.readyMs.toFixed(0)} ms, idle RSS ${(result.idleRssBytes / 2 ** 20).toFixed(0)} MB`,
        );
    }
  } finally {
    const peak = await memoryOf(app.pid).catch(() => undefined);
    await app.stop(30_000);
    if (app.child.exitCode !== 0) log(`the app exited with ${app.child.exitCode ?? app.child.signalCode}`);
    const appLog = app.output().trim();
    if (appLog) log(`the app logged:\n${appLog.slice(-3000)}`);
    if (peak) log(`app peak RSS (VmHWM) over the whole run: ${(peak.peak / 2 ** 20).toFixed(0)} MB`);
    if (args.profile) await printProfile(profileDir, app.pid);
    if (results.length > 0 || startup.length > 0) {
      const machine = `${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}`;
      console.log(
        `\nnpm run bench, ${started.toISOString()}, ${machine}; wrk: ${CONNECTIONS} connections, ${WARMUP_S} s warm-up + ${MEASURE_S} s; ` +
          `pgbench: ${PGBENCH_CLIENTS} clients, ${PGBENCH_THREADS} threads, ${MEASURE_S} s\n`,
      );
      if (results.length > 0) console.log(table(results));
      if (peak && results.length > 0)
        console.log(
          `\nThe app's peak RSS (VmHWM) over the run: ${megabytes(peak.peak)} MB, target ≤ ${megabytes(PEAK_RSS_TARGET)} MB ${verdict(peak.peak <= PEAK_RSS_TARGET)}`,
        );
      if (startup.length > 0) console.log(`\n${startupTable(startup)}`);
      const folder = path.resolve('bench/results');
      await mkdir(folder, { recursive: true });
      const file = path.join(folder, `http-${started.toISOString().replaceAll(':', '-')}.json`);
      const settings = {
        connections: CONNECTIONS,
        warmupSeconds: WARMUP_S,
        measureSeconds: MEASURE_S,
        pgbenchClients: PGBENCH_CLIENTS,
        pgbenchThreads: PGBENCH_THREADS,
        acceptEncoding: ACCEPT_ENCODING,
      };
      const summary = {
        started,
        machine,
        settings,
        app: { readyAfterMs: app.readyAfterMs, idleRssBytes: idle.rss, peakRssBytes: peak?.peak },
        startup,
        results,
      };
      await writeFile(file, `${JSON.stringify(summary, null, 2)}\n`);
      console.log(`\nWritten to ${path.relative(process.cwd(), file)}`);
    }
  }
  const errors = results.reduce((sum, result) => sum + result.app.errors, 0);
  if (errors > 0) {
    console.error(`\nFAILED: ${errors} request(s) failed (non-2xx or socket errors).`);
    return 1;
  }
  return 0;
}

async function cleanUp(): Promise<void> {
  await children.stopAll();
  await server?.stop().catch((error: Error) => log(`could not stop PostgreSQL: ${error.message}`));
  if (workDir) await rm(workDir, { recursive: true, force: true });
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`\n${signal}: stopping everything the benchmark started`);
    void cleanUp().finally(() => process.exit(130));
  });
}
process.on('exit', () => children.killAllNow());

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
}
if (!stopping) {
  await cleanUp();
  process.exit(code);
}
