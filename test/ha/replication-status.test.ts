// `todoapp replication-status` and the admin page /admin/replication against a
// real primary with a synchronous streaming standby, as the app's own
// (non-superuser) role with and without pg_monitor, pointed at the standby, and
// on the embedded database, where replication does not apply.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { renderAdminReplicationPage } from '../../src/views/admin-pages.ts';
import { startTestApp, TEST_SECRET_KEY, type TestApp } from '../support/app.ts';
import { runCli } from '../support/cli.ts';
import { startStreamingPair, type AppDatabase, type StreamingPair } from './cluster.ts';

/** The table row (`<tr>…</tr>` contents) whose row header is this text. */
function rowOf(page: string, header: string): string {
  const row = page
    .split('<tr>')
    .find((candidate) => candidate.includes(`<th scope="row">${header}</th>`))
    ?.split('</tr>')[0];
  assert.ok(row, `a row for ${header}`);
  return row;
}

const cells = (row: string) => [...row.matchAll(/<td>([^<]*)<\/td>/g)].map((match) => match[1]);

describe('replication status against a primary and a synchronous standby', { timeout: 180_000 }, () => {
  let pair: StreamingPair;
  /** The app's role with pg_monitor: sees everything. */
  let monitored: AppDatabase;
  /** A role without it: sees the standby's name, the rest NULL. */
  let plain: AppDatabase;
  const env = (url: string) => ({ DATABASE_URL: url, SECRET_KEY: TEST_SECRET_KEY });

  before(async () => {
    pair = await startStreamingPair({ synchronous: true });
    monitored = await pair.createDatabase('todoapp_monitored', 'todoapp_monitored', { monitor: true });
    plain = await pair.createDatabase('todoapp_plain', 'todoapp_plain');
  });
  after(async () => {
    await pair?.stop();
  });

  it('the command names the primary it is connected to and lists the standby as streaming, synchronously', async () => {
    const result = await runCli(['replication-status'], env(monitored.directUrl));
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(`^Connected to 127\\.0\\.0\\.1:${pair.primary.port}, PostgreSQL 15\\.\\d+[^:]*: the primary\\.$`, 'm'),
    );
    assert.match(result.stdout, /^Standbys streaming from it \(pg_stat_replication\): 1$/m);
    assert.match(
      result.stdout,
      /^APPLICATION +CLIENT +STATE +SYNC +WRITE LAG +FLUSH LAG +REPLAY LAG +REPLAY LAG TIME$/m,
    );
    assert.match(
      result.stdout,
      /^standby +127\.0\.0\.1 +streaming +sync +\d+(\.\d)? k?B +\d+(\.\d)? k?B +\d+(\.\d)? k?B +\S+$/m,
    );
    assert.doesNotMatch(result.stdout, /unknown|pg_monitor/);
  });

  it('without pg_monitor the standby is listed with its details unknown, and the output says what to grant', async () => {
    const result = await runCli(['replication-status'], env(plain.url));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /: the primary\./);
    assert.match(result.stdout, /^standby +unknown +unknown +unknown +unknown +unknown +unknown +unknown$/m);
    assert.match(result.stdout, /^The database role todoapp_plain may not see .* GRANT pg_monitor TO todoapp_plain;$/m);
  });

  it('pointed at the standby, the command says it is not the primary', async () => {
    const standbyUrl = monitored.url.replace(`:${pair.primary.port}/`, `:${pair.standby.port}/`);
    assert.notEqual(standbyUrl, monitored.url);
    const result = await runCli(['replication-status'], env(standbyUrl));
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(
        `^Connected to 127\\.0\\.0\\.1:${pair.standby.port}, .*: a standby \\(in recovery\\), not the primary\\.$`,
        'm',
      ),
    );
    assert.match(result.stdout, /^No standbys are streaming from it\.$/m);
  });

  it('a server that cannot be reached is an error, exit code 1', async () => {
    const result = await runCli(['replication-status'], {
      ...env(monitored.url.replace(`:${pair.primary.port}/`, ':1/')),
      DB_CONNECT_TIMEOUT_S: '2',
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /replication-status failed/);
  });

  describe('the admin page /admin/replication', () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp('postgres', env(monitored.directUrl), { reuseDatabase: true });
    });
    after(() => t?.close());

    it('shows the primary and the standby streaming from it, in an accessible table', async () => {
      const admin = await t.browserFor(t.alice);
      const page = await admin.page('/admin/replication');
      assert.match(page, /<h1>Replication<\/h1>/);
      assert.match(page, /<a href="\/admin\/replication" aria-current="page">Replication<\/a>/);
      assert.match(
        page,
        new RegExp(
          `Connected to <strong>127\\.0\\.0\\.1:${pair.primary.port}</strong>, PostgreSQL 15\\.\\d+[^:]*: <strong>the primary</strong>`,
        ),
      );
      assert.match(page, /<caption>Standbys streaming from this server \(pg_stat_replication\)/);
      assert.match(page, /<th scope="col">Standby \(application name\)<\/th>/);
      const [client, state, sync, ...lags] = cells(rowOf(page, 'standby'));
      assert.deepEqual([client, state, sync], ['127.0.0.1', 'streaming', 'sync']);
      assert.equal(lags.length, 4);
      for (const lag of lags.slice(0, 3)) assert.match(lag ?? '', /^\d+(\.\d)? k?B$/);
      assert.doesNotMatch(page, /pg_monitor/);
      // Every admin page links to it.
      assert.match(await admin.page('/admin'), /<a href="\/admin\/replication">Replication<\/a>/);
    });

    it('is not there for anyone but an admin’s browser session (404)', async () => {
      const bob = await t.createUser('bob');
      assert.equal((await (await t.browserFor(bob)).fetch('/admin/replication')).status, 404);
      assert.equal(
        (await t.request('/admin/replication', { anonymous: true, headers: { accept: 'text/html' } })).status,
        404,
      );
      assert.equal((await t.request('/admin/replication')).status, 404, 'an admin’s API token');
    });
  });
});

describe('replication status on the embedded database', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'todoapp-test-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  it('the command says replication does not apply and exits 0', async () => {
    const result = await runCli(['replication-status'], { DATA_DIR: dataDir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /embedded database .* has no replication/);
  });

  it('the admin page says so too', async () => {
    const t = await startTestApp('pglite');
    try {
      const page = await (await t.browserFor(t.alice)).page('/admin/replication');
      assert.match(page, /embedded database \(PGlite\), which has no replication/);
      assert.doesNotMatch(page, /<table>/);
    } finally {
      await t.close();
    }
  });
});

describe('the admin replication page, rendered', () => {
  const viewer = { username: 'alice', isAdmin: true, csrfToken: 'token' };
  const server = {
    address: '10.0.0.5',
    port: 5432,
    version: '15.18',
    isPrimary: true,
    role: 'todoapp',
    detailsVisible: false,
  };
  const hidden = {
    clientAddress: null,
    state: null,
    syncState: null,
    writeLagBytes: null,
    flushLagBytes: null,
    replayLagBytes: null,
    replayLag: null,
  };

  it('shows hidden details as unknown and names the grant, with every value escaped', () => {
    const page = renderAdminReplicationPage(viewer, {
      server,
      standbys: [{ ...hidden, applicationName: '<b>node2</b>' }],
    });
    const row = rowOf(page, '&lt;b&gt;node2&lt;/b&gt;');
    assert.deepEqual(cells(row), ['unknown', 'unknown', 'unknown', 'unknown', 'unknown', 'unknown', 'unknown']);
    assert.match(page, /<p class="notice">The database role todoapp may not see .*GRANT pg_monitor TO todoapp;<\/p>/);
    assert.doesNotMatch(page, /<b>node2/);
  });

  it('says when no standby streams from the primary', () => {
    const page = renderAdminReplicationPage(viewer, { server: { ...server, detailsVisible: true }, standbys: [] });
    assert.match(page, /No standbys are streaming from this server: a failover would have nowhere to go\./);
    assert.doesNotMatch(page, /<table>|pg_monitor/);
  });

  it('formats lag in bytes, kB and MB', () => {
    const page = renderAdminReplicationPage(viewer, {
      server: { ...server, detailsVisible: true },
      standbys: [
        {
          applicationName: 'node2',
          clientAddress: '10.0.0.6',
          state: 'streaming',
          syncState: 'async',
          writeLagBytes: 0,
          flushLagBytes: 2048,
          replayLagBytes: 3 * 1024 * 1024,
          replayLag: null,
        },
      ],
    });
    assert.deepEqual(cells(rowOf(page, 'node2')), ['10.0.0.6', 'streaming', 'async', '0 B', '2.0 kB', '3.0 MB', '-']);
  });
});
