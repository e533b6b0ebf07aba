// The other way to reach the primary: a multi-host DATABASE_URL with
// target_session_attrs=primary and no proxy. A plain primary and synchronous
// standby; the test kills the primary and promotes the standby itself
// (`pg_ctl promote`, as an operator would), under load. Meanwhile postgres.js
// finds only a standby, which it must refuse without spinning, and then the
// promoted one: every request still succeeds, none is lost or doubled.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCliServer, type CliServer } from '../support/cli.ts';
import { MixedLoad, prepareDrill, reckon, storedTodos, type DrillSetup } from './drill.ts';
import { startStreamingPair, type StreamingPair } from './streaming-pair.ts';

describe('a multi-host DATABASE_URL through a failover (streaming pair, promoted by hand)', () => {
  let pair: StreamingPair;
  let setup: DrillSetup;
  let app: CliServer;

  before(async () => {
    pair = await startStreamingPair({ synchronous: true });
    await pair.waitForStandby();
    setup = await prepareDrill(pair, { direct: true });
    app = await startCliServer(setup.env);
  });

  after(async () => {
    await app?.stop();
    await pair?.stop();
  });

  it('rides through the primary crashing and the standby being promoted 2 s later', async (t) => {
    const load = new MixedLoad({ apps: [app.baseUrl], token: setup.token, clients: 4 });
    load.start();
    await sleep(1500);
    const kill = await pair.killPrimary('SIGKILL');
    await sleep(2000); // no primary at all: only a standby answers
    await pair.promote();
    await sleep(1500);
    const records = await load.stop();
    assert.equal(app.child.exitCode, null, app.output().slice(-3000));

    const report = reckon(records, await storedTodos(setup.database.directUrl), kill.at, load.run);
    t.diagnostic(JSON.stringify(report));
    assert.ok(report.writes > 20, `a steady load (${report.writes} writes)`);
    assert.equal(report.lost, 0, 'acknowledged writes lost');
    assert.equal(report.duplicated, 0, 'client actions stored twice');
    assert.equal(report.failed, 0, `requests answered with an error: ${JSON.stringify(report.failures)}`);
    assert.ok(report.windowMs >= 2000, 'writes waited for the promotion');
  });
});
