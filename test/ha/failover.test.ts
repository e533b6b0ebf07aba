// The failover drill, for real: two `todoapp serve` processes behind nothing
// but their own retries, a Patroni-managed primary and synchronous standby
// behind HAProxy, and clients creating, toggling and listing todos. The primary
// is killed; afterwards every request is compared with what the database holds.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { TEST_SECRET_KEY } from '../support/app.ts';
import { BrowserSession } from '../support/browser.ts';
import { runCli, startCliServer, type CliServer } from '../support/cli.ts';
import { startHaCluster, type AppDatabase, type HaCluster, type HaNode, type KillRecord } from './cluster.ts';
import { MixedLoad, reckon, type DrillReport, type StoredTodo } from './drill.ts';

const CLIENTS = 6;
/** DRILL_VERBOSE=1 prints each step as it happens (the test runner shows output only at the end). */
const step = (what: string) => process.env.DRILL_VERBOSE && process.stderr.write(`[drill ${(performance.now() / 1000).toFixed(1)}s] ${what}\n`);
const ADMIN_PASSWORD = 'a long admin passphrase for the drill';

async function storedTodos(url: string): Promise<StoredTodo[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await sql<StoredTodo[]>`SELECT id, title, completed FROM todos`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

function describeReport(report: DrillReport, promotionMs: number): string {
  const { failures, ...figures } = { ...report, promotionMs };
  return `${Object.entries(figures)
    .map(([name, value]) => `${name}=${Math.round(value)}`)
    .join(' ')} failures=${JSON.stringify(failures)}`;
}

describe('a PostgreSQL failover under load (Patroni, synchronous replication, through HAProxy)', () => {
  let cluster: HaCluster;
  let database: AppDatabase;
  let apps: CliServer[] = [];
  let token: string;

  before(async () => {
    cluster = await startHaCluster({ synchronous: true, log: process.env.DRILL_VERBOSE ? (line) => process.stderr.write(`${line}\n`) : undefined });
    step('cluster started');
    await cluster.waitForReplicas(1, { sync: true });
    step('standby streaming');
    database = await cluster.createDatabase('todoapp', 'todoapp');
    const env = { DATABASE_URL: database.url, SECRET_KEY: TEST_SECRET_KEY, DB_RETRY_BUDGET_MS: '20000' };
    assert.equal((await runCli(['migrate'], env)).code, 0);
    assert.equal((await runCli(['createsuperuser', '--username', 'admin'], { ...env, TODOAPP_PASSWORD: ADMIN_PASSWORD })).code, 0);
    token = (await runCli(['create-token', '--username', 'admin'], env)).stdout.trim();
    apps = await Promise.all([startCliServer(env), startCliServer(env)]);
    step('apps listening');
  });

  after(async () => {
    await Promise.all(apps.map((app) => app.stop()));
    await cluster?.stop();
  });

  /** Load, `disrupt` the leader, wait for the new one, load on it a little, then reckon. */
  async function drill(t: TestContext, disrupt: (leader: HaNode) => Promise<KillRecord>): Promise<DrillReport> {
    const browser = new BrowserSession(apps[0]!.baseUrl);
    await browser.logIn('admin', ADMIN_PASSWORD);
    const load = new MixedLoad({ apps: apps.map((app) => app.baseUrl), token, clients: CLIENTS });
    load.start();
    await sleep(2000);
    const old = await cluster.leader();
    assert.ok(old, 'a leader before the drill');
    const kill = await disrupt(old);
    step(`disrupted ${old.name}`);
    const promoted = await cluster.waitForLeader({ notName: old.name, since: kill.at, timeoutMs: 60_000 });
    step(`${promoted.node.name} promoted after ${promoted.ms} ms`);
    await cluster.waitForRouting(promoted.node, { since: kill.at, timeoutMs: 30_000 });
    step('HAProxy routes to it');
    await sleep(2000);
    const records = await load.stop();
    step(`load stopped: ${records.length} requests`);
    for (const app of apps) assert.equal(app.child.exitCode, null, `an app exited during the drill:\n${app.output().slice(-3000)}`);

    // The old primary comes back as a standby of the new one.
    cluster.startPatroni(old);
    await cluster.waitForReplicas(1, { sync: true, timeoutMs: 90_000 });
    step('old primary streaming again');

    const report = reckon(records, await storedTodos(database.url), kill.at, load.run);
    t.diagnostic(describeReport(report, promoted.ms));
    // The session made before the failover still works after it.
    assert.equal((await browser.fetch('/')).status, 200, 'a session from before the failover');
    return report;
  }

  function assertNothingNoticed(report: DrillReport): void {
    assert.ok(report.writes > 20, `a steady load (${report.writes} writes)`);
    assert.equal(report.lost, 0, 'acknowledged writes lost');
    assert.equal(report.duplicated, 0, 'client actions stored twice');
    assert.equal(report.failed, 0, 'requests answered with an error');
  }

  it('a crash of the primary (SIGKILL of its postgres): nothing lost, nothing duplicated, no request failed', async (t) => {
    const report = await drill(t, (leader) => cluster.killPostgres(leader, 'SIGKILL'));
    assertNothingNoticed(report);
  });

  it('the primary\'s Patroni killed, its postgres left running: through HAProxy, no write goes astray', async (t) => {
    const report = await drill(t, (leader) => cluster.killPatroni(leader));
    assertNothingNoticed(report);
  });
});
