// The HA harness itself, with real processes: a Patroni-managed primary and
// standby behind HAProxy (one cluster for the whole file: it takes ~13 s to
// start on two cores), then a plain streaming pair promoted by hand. The
// failover and rejoin times are printed as test diagnostics.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import {
  startHaCluster,
  startStreamingPair,
  type AppDatabase,
  type HaCluster,
  type HaNode,
  type StreamingPair,
} from './cluster.ts';
import { waitFor, withConnection } from './processes.ts';

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** One row of one statement on a short-lived connection. */
async function one<Row extends Record<string, unknown>>(
  url: string,
  text: string,
  params: (string | number)[] = [],
): Promise<Row> {
  const rows = await withConnection(url, (sql) => sql.unsafe(text, params));
  assert.equal(rows.length, 1, text);
  return rows[0] as unknown as Row;
}

/** Rejects when `work` has not settled after `ms`: a write that waits for a synchronous standby that never comes hangs for good. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('the Patroni cluster behind HAProxy', { timeout: 300_000 }, () => {
  let cluster: HaCluster;
  let app: AppDatabase;
  const nodeNamed = (name: string): HaNode => {
    const node = cluster.nodes.find((candidate) => candidate.name === name);
    assert.ok(node, name);
    return node;
  };
  const standbyOf = (leader: HaNode): HaNode => nodeNamed(leader.name === 'node1' ? 'node2' : 'node1');
  const appUrlOf = (node: HaNode) => cluster.nodeUrl(node, app.database);
  /** Writes a row through HAProxy as the app's role; returns the port of the server that took it. */
  const writeThroughHaproxy = async (note: string) =>
    (
      await one<{ port: number }>(
        app.url,
        'INSERT INTO notes (note) VALUES ($1) RETURNING inet_server_port() AS port',
        [note],
      )
    ).port;
  /** Waits until `old` streams synchronously from the leader again and has `note`; returns how long after `since` that was. */
  const rejoinedAsStandby = async (old: HaNode, note: string, since: number) => {
    const replicas = await cluster.waitForReplicas(1, { sync: true, timeoutMs: 90_000 });
    const ms = performance.now() - since;
    assert.deepEqual(replicas, [{ application_name: old.name, state: 'streaming', sync_state: 'sync' }]);
    await waitForNoteOn(old, note);
    assert.equal(
      (await one<{ standby: boolean }>(appUrlOf(old), 'SELECT pg_is_in_recovery() AS standby')).standby,
      true,
    );
    return ms;
  };
  const waitForNoteOn = (node: HaNode, note: string) =>
    waitFor(`"${note}" on ${node.name}`, 10_000, async () => {
      const { count } = await one<{ count: number }>(
        appUrlOf(node),
        'SELECT count(*)::int AS count FROM notes WHERE note = $1',
        [note],
      );
      return count === 1 ? true : undefined;
    });

  let startMs = 0;
  before(async () => {
    const started = performance.now();
    cluster = await startHaCluster({ synchronous: true });
    startMs = performance.now() - started;
    app = await cluster.createDatabase('harness', 'harness_app');
    await withConnection(app.url, (sql) => sql`CREATE TABLE notes (id serial PRIMARY KEY, note text NOT NULL)`);
  });
  after(async () => {
    await cluster?.stop();
  });

  it('elects a leader that HAProxy routes the app, a non-superuser, to', async (t) => {
    t.diagnostic(`the cluster started in ${seconds(startMs)}`);
    const leader = await cluster.leader();
    assert.ok(leader, 'a leader');
    assert.deepEqual(await cluster.routedTo(), [leader.name]);
    const row = await one<{ standby: boolean; port: number; user: string; superuser: boolean }>(
      app.url,
      `SELECT pg_is_in_recovery() AS standby, inet_server_port() AS port, current_user AS user,
              (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser`,
    );
    assert.deepEqual(row, { standby: false, port: leader.pgPort, user: 'harness_app', superuser: false });
    const members = await cluster.members();
    const roles = Object.fromEntries(members.map((member) => [member.name, member.role]));
    assert.deepEqual(roles, { [leader.name]: 'leader', [standbyOf(leader).name]: 'sync_standby' });
    // The command the README's drill tells people to run.
    assert.match(await cluster.patronictl(['list']), new RegExp(`${leader.name} .*Leader`));
    // The multi-host URL finds the primary too.
    assert.equal((await one<{ port: number }>(app.directUrl, 'SELECT inet_server_port() AS port')).port, leader.pgPort);
  });

  it('replicates synchronously: a row written through HAProxy is on the standby', async () => {
    const leader = await cluster.leader();
    assert.ok(leader);
    const replicas = await cluster.waitForReplicas(1, { sync: true });
    assert.deepEqual(replicas, [{ application_name: standbyOf(leader).name, state: 'streaming', sync_state: 'sync' }]);
    assert.equal(await writeThroughHaproxy('before the crash'), leader.pgPort);
    await waitForNoteOn(standbyOf(leader), 'before the crash');
    const standby = await one<{ standby: boolean }>(
      appUrlOf(standbyOf(leader)),
      'SELECT pg_is_in_recovery() AS standby',
    );
    assert.equal(standby.standby, true);
  });

  it('fails over when the leader’s PostgreSQL is SIGKILLed: HAProxy routes writes to the new leader, nothing acknowledged is lost, the old primary rejoins as a standby', async (t) => {
    const old = await cluster.leader();
    assert.ok(old);
    const kill = await cluster.killPostgres(old, 'SIGKILL');
    const promoted = await cluster.waitForLeader({ notName: old.name, since: kill.at });
    const routed = await cluster.waitForRouting(promoted.node, { since: kill.at });
    assert.equal(await writeThroughHaproxy('after the crash'), promoted.node.pgPort);
    const writable = performance.now() - kill.at;
    // Committed before the crash under synchronous replication: on the new primary.
    assert.equal(
      (
        await one<{ count: number }>(
          app.url,
          `SELECT count(*)::int AS count FROM notes WHERE note = 'before the crash'`,
        )
      ).count,
      1,
    );

    const rejoined = await rejoinedAsStandby(old, 'after the crash', kill.at);
    t.diagnostic(
      `PostgreSQL crash: new leader ${promoted.node.name} after ${seconds(promoted.ms)}, HAProxy routes to it after ${seconds(routed.ms)}, ` +
        `first write through HAProxy after ${seconds(writable)}, ${old.name} streaming again after ${seconds(rejoined)}`,
    );
  });

  it('when only Patroni dies on the leader, HAProxy cuts the connections to it and routes writes to the new leader; restarted, it rejoins as a standby', async (t) => {
    const old = await cluster.leader();
    assert.ok(old);
    // A connection through HAProxy, open on the leader when its Patroni dies.
    let closed = false;
    const held = postgres(app.url, { max: 1, onnotice: () => {}, onclose: () => (closed = true) });
    try {
      assert.equal((await held`SELECT inet_server_port() AS port`)[0]?.port, old.pgPort);

      const kill = await cluster.killPatroni(old);
      const unrouted = await cluster.waitForUnrouted(old, { since: kill.at, timeoutMs: 10_000 });
      await waitFor('HAProxy to close the connection to the old leader', 5_000, async () =>
        closed ? true : undefined,
      );
      // No watchdog: the old primary still runs and takes writes from anyone connected straight to it.
      // Only HAProxy keeps the app away from it.
      assert.equal(
        (await one<{ standby: boolean }>(appUrlOf(old), 'SELECT pg_is_in_recovery() AS standby')).standby,
        false,
      );

      const promoted = await cluster.waitForLeader({ notName: old.name, since: kill.at });
      const routed = await cluster.waitForRouting(promoted.node, { since: kill.at });
      assert.equal(await writeThroughHaproxy('after Patroni died'), promoted.node.pgPort);
      assert.deepEqual(await cluster.routedTo(), [promoted.node.name]);

      cluster.startPatroni(old);
      const rejoined = await rejoinedAsStandby(old, 'after Patroni died', kill.at);
      t.diagnostic(
        `Patroni killed: HAProxy stops routing to ${old.name} after ${seconds(unrouted.ms)}, new leader ${promoted.node.name} after ${seconds(promoted.ms)}, ` +
          `HAProxy routes to it after ${seconds(routed.ms)}, ${old.name} streaming again after ${seconds(rejoined)}`,
      );
    } finally {
      await held.end({ timeout: 1 });
    }
  });

  it('stop() ends every process it started', async () => {
    for (const node of cluster.nodes) await one(cluster.nodeUrl(node), 'SELECT 1');
    assert.equal((await cluster.routedTo()).length, 1);
    await cluster.stop();
    for (const node of cluster.nodes) {
      assert.equal(cluster.patroniRunning(node), false);
      await assert.rejects(
        withConnection(cluster.nodeUrl(node), (sql) => sql`SELECT 1`, { connectTimeoutS: 1 }),
        `${node.name} is down`,
      );
    }
    await assert.rejects(cluster.routedTo(), 'HAProxy is down');
  });
});

describe('the streaming pair (promotion driven by the test)', { timeout: 120_000 }, () => {
  let pair: StreamingPair;
  before(async () => {
    pair = await startStreamingPair({ synchronous: true });
  });
  after(async () => {
    await pair?.stop();
  });

  it('streams synchronously to the standby', async () => {
    const [standby] = await withConnection(
      pair.url(),
      (sql) => sql`SELECT application_name, state, sync_state FROM pg_stat_replication`,
    );
    assert.deepEqual({ ...standby }, { application_name: 'standby', state: 'streaming', sync_state: 'sync' });
    await withConnection(pair.url(), (sql) => sql`CREATE TABLE notes (note text)`);
    await withConnection(pair.url(), (sql) => sql`INSERT INTO notes VALUES ('before the crash')`);
    const onStandby = await one<{ count: number }>(
      pair.nodeUrl(pair.standby),
      'SELECT count(*)::int AS count FROM notes',
    );
    assert.equal(onStandby.count, 1);
  });

  it('promote(): after the primary crashes the standby takes writes, without waiting for the synchronous standby it inherited', async (t) => {
    // The clone carries the primary's synchronous_standby_names: the trap promote() defuses.
    assert.equal(
      (
        await one<{ names: string }>(
          pair.nodeUrl(pair.standby),
          `SELECT current_setting('synchronous_standby_names') AS names`,
        )
      ).names,
      'standby',
    );
    const kill = await pair.killPrimary();
    const { ms } = await pair.promote();
    t.diagnostic(`pg_ctl promote took ${seconds(ms)} (${seconds(performance.now() - kill.at)} after the crash)`);
    assert.equal(pair.url(), pair.nodeUrl(pair.standby));
    const row = await within(
      10_000,
      'a write on the promoted standby',
      one<{ port: number; standby: boolean }>(
        pair.directUrl(),
        `INSERT INTO notes VALUES ('after the crash') RETURNING inet_server_port() AS port, pg_is_in_recovery() AS standby`,
      ),
    );
    assert.deepEqual(row, { port: pair.standby.port, standby: false });
    assert.equal(
      (await one<{ count: number }>(pair.url(), 'SELECT count(*)::int AS count FROM notes')).count,
      2,
      'nothing committed before the crash is lost',
    );
  });
});
