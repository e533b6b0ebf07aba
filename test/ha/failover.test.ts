// The failover drill, for real: two `todoapp serve` processes, a Patroni-managed
// primary and synchronous standby behind HAProxy, and clients creating,
// toggling and listing todos. The primary is disrupted; afterwards every
// request is compared with what the database holds (test/ha/drill.ts).
// `npm run bench:failover` runs the same drill in more settings and prints a table.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BrowserSession } from '../support/browser.ts';
import { startCliServer, type CliServer } from '../support/cli.ts';
import { startHaCluster, type HaCluster, type HaNode, type KillRecord } from './cluster.ts';
import { describeResult, prepareDrill, runDrill, type DrillSetup } from './drill.ts';

/** DRILL_VERBOSE=1 prints each step as it happens (the test runner shows output only at the end). */
const log = process.env.DRILL_VERBOSE
  ? (line: string) => process.stderr.write(`[drill ${(performance.now() / 1000).toFixed(1)}s] ${line}\n`)
  : undefined;

describe('a PostgreSQL failover under load (Patroni, synchronous replication, through HAProxy)', () => {
  let cluster: HaCluster;
  let setup: DrillSetup;
  let apps: CliServer[] = [];

  before(async () => {
    cluster = await startHaCluster({ synchronous: true, log });
    await cluster.waitForReplicas(1, { sync: true });
    setup = await prepareDrill(cluster);
    // The default retry budget (15 s) covers both promotions here (about 3 s and 11 s).
    apps = await Promise.all([startCliServer(setup.env), startCliServer(setup.env)]);
  });

  after(async () => {
    await Promise.all(apps.map((app) => app.stop()));
    await cluster?.stop();
  });

  async function assertNothingNoticed(
    disrupt: (leader: HaNode) => Promise<KillRecord>,
    diagnostic: (message: string) => void,
  ) {
    const browser = new BrowserSession(apps[0]!.baseUrl);
    await browser.logIn('admin', setup.adminPassword);
    const result = await runDrill({ cluster, setup, apps, disrupt, log });
    diagnostic(describeResult(result));
    const { report } = result;
    assert.ok(report.writes > 20, `a steady load (${report.writes} writes)`);
    assert.equal(report.lost, 0, 'acknowledged writes lost');
    assert.equal(report.duplicated, 0, 'client actions stored twice');
    assert.equal(report.failed, 0, `requests answered with an error: ${JSON.stringify(report.failures)}`);
    // Sessions live in the database that failed over: the one made before still works.
    assert.equal((await browser.fetch('/')).status, 200, 'a session from before the failover');
  }

  it('a crash of the primary (SIGKILL of its postgres): nothing lost, nothing duplicated, no request failed', async (t) => {
    await assertNothingNoticed(
      (leader) => cluster.killPostgres(leader, 'SIGKILL'),
      (message) => t.diagnostic(message),
    );
  });

  it("the primary's Patroni killed, its postgres left running: through HAProxy, no write goes astray", async (t) => {
    await assertNothingNoticed(
      (leader) => cluster.killPatroni(leader),
      (message) => t.diagnostic(message),
    );
  });
});
