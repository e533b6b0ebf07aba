// The failover drill's load and its reckoning, shared by test/ha/failover.test.ts
// and `npm run bench:failover`. Several clients create, toggle and list todos
// through the app (each write with its own Idempotency-Key, never retried by
// the client), every request is recorded, and afterwards the records are
// compared with what the database holds.
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { runCli, type CliServer } from '../support/cli.ts';
import type { AppDatabase, HaCluster, HaNode, KillRecord } from './cluster.ts';
import type { DatabaseAccess } from './processes.ts';

export type RequestKind = 'create' | 'toggle' | 'list';

export interface RequestRecord {
  client: number;
  kind: RequestKind;
  /** For creates: unique per client action, so duplicates show in the database. */
  title?: string;
  todoId?: number;
  /** For toggles: the value sent. */
  completed?: boolean;
  start: number;
  end: number;
  /** HTTP status, or 0 when no response came (connection refused, timeout). */
  status: number;
}

export interface StoredTodo {
  id: number;
  title: string;
  completed: boolean;
}

export interface LoadOptions {
  /** Base URLs of the app instances; requests go to them in turn. */
  apps: string[];
  token: string;
  clients: number;
  /** Gives up on a request after this long (it counts as failed). */
  requestTimeoutMs?: number;
}

const ok = (record: RequestRecord) => record.status >= 200 && record.status < 300;
const isWrite = (record: RequestRecord) => record.kind !== 'list';

/** Mixed load until stopped; `records` grows as requests finish. */
export class MixedLoad {
  readonly records: RequestRecord[] = [];
  /** Marks this run's todos, so runs against one database stay apart. */
  readonly run = crypto.randomUUID().slice(0, 8);
  private running = false;
  private loops: Promise<void>[] = [];
  private turn = 0;

  constructor(private readonly options: LoadOptions) {}

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.options.clients }, (_, client) => this.client(client));
  }

  async stop(): Promise<RequestRecord[]> {
    this.running = false;
    await Promise.all(this.loops);
    return this.records;
  }

  private nextApp(): string {
    const apps = this.options.apps;
    return apps[this.turn++ % apps.length] as string;
  }

  private async send(
    record: Omit<RequestRecord, 'start' | 'end' | 'status'>,
    path: string,
    init: RequestInit,
  ): Promise<Response | undefined> {
    const start = performance.now();
    let response: Response | undefined;
    try {
      response = await fetch(`${this.nextApp()}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${this.options.token}`, 'content-type': 'application/json', ...init.headers },
        signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 60_000),
      });
      await response.clone().arrayBuffer();
    } catch {
      response = undefined;
    }
    this.records.push({ ...record, start, end: performance.now(), status: response?.status ?? 0 });
    return response;
  }

  private async client(client: number): Promise<void> {
    const mine: number[] = [];
    for (let step = 0; this.running; step++) {
      const phase = step % 3;
      if (phase === 0 || mine.length === 0) {
        const title = `${this.run} client ${client} todo ${step}`;
        const response = await this.send({ client, kind: 'create', title }, '/api/todos', {
          method: 'POST',
          body: JSON.stringify({ title }),
          headers: { 'idempotency-key': crypto.randomUUID() },
        });
        if (response?.status === 201) mine.push(((await response.json()) as { id: number }).id);
      } else if (phase === 1) {
        await this.send({ client, kind: 'list' }, '/api/todos?limit=20', { method: 'GET' });
      } else {
        const todoId = mine[step % mine.length] as number;
        const completed = step % 2 === 0;
        await this.send({ client, kind: 'toggle', todoId, completed }, `/api/todos/${todoId}`, {
          method: 'PATCH',
          body: JSON.stringify({ completed }),
          headers: { 'idempotency-key': crypto.randomUUID() },
        });
      }
    }
  }
}

export interface DrillReport {
  requests: number;
  writes: number;
  /** Acknowledged (2xx) writes the database does not show. */
  lost: number;
  /** Client actions stored more than once. */
  duplicated: number;
  /** Requests answered with an error, or not at all. */
  failed: number;
  /** The failed ones by status (0: no response). */
  failures: Record<string, number>;
  /** The longest time after the kill with no write acknowledged (ms). */
  windowMs: number;
  /** Latency of requests that overlapped the window (ms). */
  p99Ms: number;
  maxMs: number;
}

function percentile(values: number[], fraction: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] as number;
}

/** Compares what the clients were told with what the database holds. `killAt` is on the performance.now() clock. */
export function reckon(records: RequestRecord[], allStored: StoredTodo[], killAt: number, run: string): DrillReport {
  const stored = allStored.filter((todo) => todo.title.startsWith(`${run} `));
  const byTitle = new Map<string, number>();
  for (const todo of stored) byTitle.set(todo.title, (byTitle.get(todo.title) ?? 0) + 1);
  const byId = new Map(stored.map((todo) => [todo.id, todo]));

  let lost = 0;
  for (const record of records.filter((r) => r.kind === 'create' && ok(r))) {
    if (!byTitle.has(record.title as string)) lost++;
  }
  // A todo's completion must be what its last acknowledged toggle set, unless
  // a later toggle of it failed (its outcome is unknown to the client).
  const toggles = records.filter((r) => r.kind === 'toggle').sort((a, b) => a.start - b.start);
  const lastToggle = new Map<number, RequestRecord>();
  for (const record of toggles) lastToggle.set(record.todoId as number, record);
  for (const record of lastToggle.values()) {
    if (!ok(record)) continue;
    if (byId.get(record.todoId as number)?.completed !== record.completed) lost++;
  }

  const duplicated = [...byTitle.values()].reduce((sum, count) => sum + count - 1, 0);
  const failures: Record<string, number> = {};
  for (const record of records.filter((r) => !ok(r))) failures[record.status] = (failures[record.status] ?? 0) + 1;
  const writes = records.filter(isWrite);
  // The window: the longest stretch after the kill with no write acknowledged,
  // counted from the last acknowledgement before it.
  const acknowledged = writes
    .filter(ok)
    .map((r) => r.end)
    .sort((a, b) => a - b);
  let windowStart = killAt;
  let windowEnd = killAt;
  for (let i = 1; i < acknowledged.length; i++) {
    const [previous, next] = [acknowledged[i - 1] as number, acknowledged[i] as number];
    if (next > killAt && next - previous > windowEnd - windowStart) [windowStart, windowEnd] = [previous, next];
  }
  const during = records.filter((r) => r.end >= windowStart && r.start <= windowEnd).map((r) => r.end - r.start);
  return {
    requests: records.length,
    writes: writes.length,
    lost,
    duplicated,
    failed: records.length - records.filter(ok).length,
    failures,
    windowMs: windowEnd - windowStart,
    p99Ms: percentile(during, 0.99),
    maxMs: Math.max(0, ...during),
  };
}

/** The app side of a drill: a database with its schema, an admin with a token, and the app's environment. */
export interface DrillSetup {
  database: AppDatabase;
  env: Record<string, string>;
  token: string;
  adminPassword: string;
}

const DRILL_SECRET_KEY = 'a-drill-secret-key-that-is-long-enough-0123456789';

/**
 * Creates the app's database and sets it up as an operator would, with the
 * CLI. The app connects through the single address (HAProxy), or with
 * `direct` by the multi-host URL of both servers.
 */
export async function prepareDrill(
  servers: Pick<DatabaseAccess<never>, 'createDatabase'>,
  options: { direct?: boolean } = {},
): Promise<DrillSetup> {
  const database = await servers.createDatabase('todoapp', 'todoapp');
  const env = { DATABASE_URL: options.direct ? database.directUrl : database.url, SECRET_KEY: DRILL_SECRET_KEY };
  const adminPassword = 'a long admin passphrase for the drill';
  for (const [args, extra] of [
    [['migrate'], {}],
    [['createsuperuser', '--username', 'admin'], { TODOAPP_PASSWORD: adminPassword }],
  ] as const) {
    const result = await runCli([...args], { ...env, ...extra });
    if (result.code !== 0) throw new Error(`todoapp ${args.join(' ')} failed:\n${result.stderr}`);
  }
  const token = (await runCli(['create-token', '--username', 'admin'], env)).stdout.trim();
  return { database, env, token, adminPassword };
}

export async function storedTodos(url: string): Promise<StoredTodo[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await sql<StoredTodo[]>`SELECT id, title, completed FROM todos`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export interface DrillOptions {
  cluster: HaCluster;
  setup: DrillSetup;
  apps: CliServer[];
  /** Does something to the leader and says when. */
  disrupt: (leader: HaNode) => Promise<KillRecord>;
  clients?: number;
  /** Prints each step as it happens. */
  log?: (line: string) => void;
}

export interface DrillResult {
  report: DrillReport;
  /** From the disruption to a new leader out of recovery (ms). */
  promotionMs: number;
  /**
   * From the disruption to the new leader's first durable commit (ms). With
   * synchronous replication this can come later than the promotion: commits
   * wait until Patroni stops requiring the lost standby.
   */
  writableMs: number;
}

/** Waits for `node` to commit a transaction that writes WAL, as the app's writes do; ms since `since`. */
async function waitForDurableCommit(cluster: HaCluster, node: HaNode, since: number): Promise<number> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const sql = postgres(cluster.nodeUrl(node), { max: 1, connect_timeout: 2, onnotice: () => {} });
    try {
      await sql`SELECT txid_current()`; // takes a transaction id, so its commit waits for a synchronous standby if one is required
      return performance.now() - since;
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await sleep(50);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }
}

/**
 * Loads the apps, disrupts the leader, waits for the new one, loads on it a
 * little, brings the old leader back as a standby, then compares every
 * request with the database.
 */
export async function runDrill(options: DrillOptions): Promise<DrillResult> {
  const { cluster, apps } = options;
  const log = options.log ?? (() => {});
  const load = new MixedLoad({
    apps: apps.map((app) => app.baseUrl),
    token: options.setup.token,
    clients: options.clients ?? 6,
  });
  load.start();
  await sleep(2000);
  const old = await cluster.leader();
  if (!old) throw new Error('no leader before the drill');
  const kill = await options.disrupt(old);
  log(`disrupted ${old.name}`);
  const promoted = await cluster.waitForLeader({ notName: old.name, since: kill.at, timeoutMs: 60_000 });
  log(`${promoted.node.name} promoted after ${Math.round(promoted.ms)} ms`);
  const writableMs = await waitForDurableCommit(cluster, promoted.node, kill.at);
  log(`it committed a write after ${Math.round(writableMs)} ms`);
  const routed = await cluster.waitForRouting(promoted.node, { since: kill.at, timeoutMs: 30_000 });
  log(`HAProxy routes to it after ${Math.round(routed.ms)} ms`);
  await sleep(2000);
  const records = await load.stop();
  log(`load stopped: ${records.length} requests`);
  if (process.env.DRILL_DEBUG) {
    const after = records
      .filter((r) => r.end > kill.at && r.status >= 200 && r.status < 300)
      .sort((a, b) => a.end - b.end)
      .slice(0, 12);
    for (const r of after)
      log(`  ${r.kind} start ${Math.round(r.start - kill.at)} end ${Math.round(r.end - kill.at)} status ${r.status}`);
  }
  for (const app of apps) {
    if (app.child.exitCode !== null) throw new Error(`an app exited during the drill:\n${app.output().slice(-3000)}`);
  }
  // The old primary comes back as a standby of the new one.
  cluster.startPatroni(old);
  await cluster.waitForReplicas(1, { sync: cluster.synchronous, timeoutMs: 90_000 });
  log('old primary streaming again');
  return {
    report: reckon(records, await storedTodos(options.setup.database.url), kill.at, load.run),
    promotionMs: promoted.ms,
    writableMs,
  };
}

export function describeResult({ report, promotionMs, writableMs }: DrillResult): string {
  const { failures, ...figures } = { ...report, promotionMs, writableMs };
  const numbers = Object.entries(figures).map(([name, value]) => `${name}=${Math.round(value)}`);
  return `${numbers.join(' ')} failures=${JSON.stringify(failures)}`;
}
