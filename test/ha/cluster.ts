// A highly available PostgreSQL 15 on this machine, for the failover tests and
// `npm run cluster`: two nodes (a primary and one streaming standby) managed by
// Patroni, a single-member etcd as Patroni's store, and HAProxy in front
// sending connections to whichever node Patroni made the leader — one address
// for the app, like the primary Service of a Kubernetes operator. Everything
// listens on 127.0.0.1 only, on free ports below 32768, and runs as the
// `postgres` user in a temp dir of its own (see processes.ts for how the
// processes are run and cleaned up).
//
// Also exported: startStreamingPair(), a plain primary + standby without
// Patroni, for tests that drive promotion themselves (streaming-pair.ts).
//
//   const cluster = await startHaCluster({ synchronous: true });
//   const app = await cluster.createDatabase('todoapp', 'todoapp');  // app.url goes through HAProxy
//   const old = await cluster.leader();
//   cluster.killPostgres(old);
//   const { node, ms } = await cluster.waitForLeader({ notName: old.name });
//   await cluster.stop();
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pickFreePort } from '../support/ports.ts';
import {
  cleanUpOnExit,
  createAppDatabase,
  giveToServiceUser,
  isAlive,
  POSTGRES_BIN_DIR,
  ProcessLogs,
  randomPassword,
  readPostmasterPid,
  runAsService,
  ServiceProcess,
  stopPostgresNow,
  waitFor,
  withConnection,
  type DatabaseAccess,
} from './processes.ts';

export type { AppDatabase } from './processes.ts';
export { startStreamingPair, type StreamingPair, type StreamingPairOptions } from './streaming-pair.ts';

const PATRONI = '/usr/bin/patroni';
const PATRONICTL = '/usr/bin/patronictl';
const ETCD = '/usr/bin/etcd';
const HAPROXY = '/usr/sbin/haproxy';

/** The system packages the HA harness drives (scripts/ensure-system-packages.ts names). */
export const HA_SYSTEM_PACKAGES = ['postgresql', 'patroni', 'etcd', 'haproxy'];

/**
 * Patroni's failure detection. The leader renews its key in etcd every
 * `loopWait` seconds; the key lives `ttl` seconds, so a leader whose Patroni
 * dies (or whose node does) is replaced about `ttl` seconds later; etcd and
 * PostgreSQL calls are retried for `retryTimeout` seconds before Patroni gives
 * up on them (Patroni requires loopWait + 2 × retryTimeout ≤ ttl). A crash of
 * PostgreSQL alone is faster: Patroni notices it within `loopWait` and, with
 * primary_start_timeout 0, releases the key at once.
 */
export interface PatroniTiming {
  ttl: number;
  loopWait: number;
  retryTimeout: number;
}

/**
 * 10/2/4, measured here (2 cores, other test suites running): a new leader
 * 10.6–10.8 s after the leader's Patroni is SIGKILLed, 2.2–3.7 s after its
 * PostgreSQL is, 1.7 s after a graceful stop of its Patroni, and no spurious
 * leader change in any run. 6/1/2 (FAST_TIMING) gives 6.4 s after a Patroni
 * kill, with less slack on a loaded machine: an etcd fsync or a Patroni loop
 * delayed by 2 s can already cost the leader its key.
 */
export const DEFAULT_TIMING: PatroniTiming = { ttl: 10, loopWait: 2, retryTimeout: 4 };
export const FAST_TIMING: PatroniTiming = { ttl: 6, loopWait: 1, retryTimeout: 2 };

export interface HaClusterOptions {
  /**
   * Patroni's synchronous_mode: a commit is acknowledged only once the standby
   * has it, and only that standby may be promoted, so a failover loses no
   * acknowledged write. Not strict: with the standby gone the primary goes on
   * alone rather than blocking every write.
   */
  synchronous: boolean;
  /** Parent dir for the cluster's temp dir (default: the OS temp dir). */
  baseDir?: string;
  /** Receives every line the programs print, prefixed with the program's name (they always go to log files too). */
  log?: (line: string) => void;
  timing?: PatroniTiming;
  /** Leave the temp dir (data and logs) behind after stop(), for a look afterwards. */
  keepFiles?: boolean;
  /** How long start-up may take (default 90 s). */
  startTimeoutMs?: number;
}

export interface HaNode {
  name: string;
  pgPort: number;
  restPort: number;
  dataDir: string;
  /** Patroni's config file (mode 0600: it holds the passwords), for `patronictl -c`. */
  configFile: string;
  /** Patroni's log, which includes its PostgreSQL's. */
  logFile: string;
}

export interface ClusterMember {
  name: string;
  role: string;
  state: string;
  timeline?: number;
  lag?: number | string;
}

export interface ReplicaRow {
  application_name: string;
  state: string;
  sync_state: string;
}

/** When something was done to a process, as performance.now(), to time what follows. */
export interface KillRecord {
  pid: number;
  at: number;
}

/** url() and an app database's url go through HAProxy; directUrl() names both nodes. */
export interface HaCluster extends DatabaseAccess<HaNode> {
  /** HAProxy's address, which routes to the leader. */
  host: string;
  port: number;
  nodes: HaNode[];
  baseDir: string;
  synchronous: boolean;
  timing: PatroniTiming;
  /** The node whose Patroni answers `GET /primary` with 200, if any. */
  leader(): Promise<HaNode | undefined>;
  /** Patroni's view (`GET /cluster` of the first node that answers). */
  members(): Promise<ClusterMember[]>;
  /** Waits for a leader (other than `notName`) that accepts writes; `ms` counts from `since` (a performance.now()) or the call. */
  waitForLeader(options?: {
    notName?: string;
    timeoutMs?: number;
    since?: number;
  }): Promise<{ node: HaNode; ms: number }>;
  /** Waits until the leader has `count` standbys streaming, per pg_stat_replication (`sync`: one of them synchronous there and Patroni's sync standby, i.e. eligible for failover). */
  waitForReplicas(count: number, options?: { sync?: boolean; timeoutMs?: number }): Promise<ReplicaRow[]>;
  /** The servers HAProxy currently sends connections to (those its health check marks UP). */
  routedTo(): Promise<string[]>;
  /** Waits until HAProxy sends connections to this node and no other; `ms` as in waitForLeader. */
  waitForRouting(node: HaNode, options?: { timeoutMs?: number; since?: number }): Promise<{ ms: number }>;
  /** Waits until HAProxy no longer sends connections to this node (its health check marked it DOWN); `ms` as in waitForLeader. */
  waitForUnrouted(node: HaNode, options?: { timeoutMs?: number; since?: number }): Promise<{ ms: number }>;
  /** Signals the node's postmaster (pid from postmaster.pid): SIGKILL is a crash of PostgreSQL alone. */
  killPostgres(node: HaNode, signal?: NodeJS.Signals): Promise<KillRecord>;
  /** SIGKILLs the node's Patroni, leaving its PostgreSQL running (no watchdog here: see the README's failover section). */
  killPatroni(node: HaNode): Promise<KillRecord>;
  /** Stops the node's Patroni gracefully: it stops PostgreSQL and hands over leadership. */
  stopPatroni(node: HaNode): Promise<void>;
  /**
   * Starts the node's Patroni again (nothing to do while it runs: after killPostgres Patroni restarts
   * PostgreSQL itself). An old primary rejoins as a standby: pg_rewind, or a fresh base backup if that fails.
   */
  startPatroni(node: HaNode): void;
  /** Whether the node's Patroni process runs. */
  patroniRunning(node: HaNode): boolean;
  /** The pid of the node's Patroni, while it runs. */
  patroniPid(node: HaNode): number | undefined;
  /** The pid of the node's postmaster (from postmaster.pid), while it runs. */
  postmasterPid(node: HaNode): Promise<number | undefined>;
  /** Runs `patronictl -c <node's config> …args` and returns its output. */
  patronictl(args: string[], node?: HaNode): Promise<string>;
  /** The last lines of every program's output, for an assertion message. */
  recentLogs(): string;
  /** Stops everything it started (both Patronis and PostgreSQLs, etcd, HAProxy) and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

async function fetchStatus(url: string, timeoutMs = 1_000): Promise<{ status: number; body: string } | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: response.status, body: await response.text() };
  } catch {
    return undefined;
  }
}

/** One command on HAProxy's admin socket. */
function haproxyCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const connection = net.createConnection(socket);
    let answer = '';
    connection.setEncoding('utf8');
    connection.setTimeout(2_000, () => connection.destroy(new Error('HAProxy admin socket timed out')));
    connection.on('connect', () => connection.end(`${command}\n`));
    connection.on('data', (chunk: string) => (answer += chunk));
    connection.on('error', reject);
    connection.on('close', () => resolve(answer));
  });
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await pickFreePort());
  return [...ports];
}

function haproxyConfig(port: number, socket: string, nodes: HaNode[]): string {
  return `# HAProxy in front of the Patroni cluster: one address that always reaches the leader.
global
  maxconn 400
  # The admin socket lets the harness see which servers the health check marks UP.
  stats socket ${socket} mode 600 level admin
  # State changes of the servers ("node1 is DOWN") go to the harness's log; connections are not logged.
  log stderr format raw local0 notice

defaults
  mode tcp
  log global
  timeout connect 2s
  # Long enough for any pooled connection of the app (its idle timeout is 60 s).
  timeout client 30m
  timeout server 30m
  timeout check 1s
  # A connection to a server that refuses it (a leader that just died, not yet
  # marked DOWN) fails at once instead of being retried: HAProxy waits a
  # second before each retry, holding the client for seconds, while the app
  # retries on its own, with a fresh connection that finds the new leader.
  retries 0

listen postgres_primary
  bind 127.0.0.1:${port}
  # Patroni answers GET /primary with 200 only on the leader that holds the lock.
  # (HAProxy resets check connections once it has the status, so Patroni's log shows
  # a harmless "Connection reset by peer" traceback now and then.)
  option httpchk GET /primary
  http-check expect status 200
  # A check every 500 ms, DOWN after two failures (about 1 s), UP after one success.
  # on-marked-down shutdown-sessions cuts the connections to a server that stops
  # being the leader, so no client keeps writing to a demoted or isolated old primary.
  default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
${nodes.map((node) => `  server ${node.name} 127.0.0.1:${node.pgPort} check port ${node.restPort}`).join('\n')}
`;
}

interface Layout {
  baseDir: string;
  logs: ProcessLogs;
  nodes: HaNode[];
  etcdClientPort: number;
  etcdPeerPort: number;
  haproxyPort: number;
  haproxySocket: string;
  passwords: { superuser: string; replication: string; rewind: string };
}

function patroniConfig(
  layout: Layout,
  node: HaNode,
  scope: string,
  options: { synchronous: boolean; timing: PatroniTiming },
): unknown {
  const socketDir = path.dirname(node.dataDir);
  return {
    scope,
    namespace: '/todoapp/',
    name: node.name,
    log: { level: 'INFO' },
    // Patroni's REST API: HAProxy's health check and the harness's view. Loopback only, no auth: a throwaway cluster.
    restapi: { listen: `127.0.0.1:${node.restPort}`, connect_address: `127.0.0.1:${node.restPort}` },
    // etcd's v3 API (Debian's etcd 3.4 serves no v2 API by default).
    etcd3: { hosts: [`127.0.0.1:${layout.etcdClientPort}`] },
    bootstrap: {
      // Cluster-wide settings, written to etcd when the cluster is first bootstrapped.
      dcs: {
        ttl: options.timing.ttl,
        loop_wait: options.timing.loopWait,
        retry_timeout: options.timing.retryTimeout,
        // A standby more than 1 MB behind is not promoted (matters in asynchronous mode).
        maximum_lag_on_failover: 1024 * 1024,
        // A crashed primary PostgreSQL is failed over at once instead of restarted in place (the default waits 300 s).
        primary_start_timeout: 0,
        synchronous_mode: options.synchronous,
        synchronous_mode_strict: false,
        postgresql: {
          // An old primary rejoins as a standby by rewinding the WAL it wrote after the failover…
          use_pg_rewind: true,
          // …or, if that fails or its timeline diverged, by a fresh base backup.
          remove_data_directory_on_rewind_failure: true,
          remove_data_directory_on_diverged_timelines: true,
          // Replication slots: the leader keeps the WAL a standby has not received yet.
          use_slots: true,
          parameters: {
            wal_level: 'replica',
            hot_standby: 'on',
            // pg_rewind needs hint-bit changes in the WAL (Patroni sets it with use_pg_rewind too; explicit here).
            wal_log_hints: 'on',
            max_wal_senders: 10,
            max_replication_slots: 10,
            max_connections: 100,
            // Small and quick to start. fsync, synchronous_commit and full_page_writes keep
            // their safe defaults: the failover test measures real durability.
            shared_buffers: '16MB',
          },
        },
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C' }],
    },
    postgresql: {
      listen: `127.0.0.1:${node.pgPort}`,
      connect_address: `127.0.0.1:${node.pgPort}`,
      data_dir: node.dataDir,
      bin_dir: POSTGRES_BIN_DIR,
      // Patroni writes the replication password here for pg_basebackup and the standby.
      pgpass: path.join(socketDir, 'pgpass'),
      authentication: {
        superuser: { username: 'postgres', password: layout.passwords.superuser },
        replication: { username: 'replicator', password: layout.passwords.replication },
        rewind: { username: 'rewinder', password: layout.passwords.rewind },
      },
      parameters: { unix_socket_directories: socketDir },
      pg_hba: [
        'local all all peer',
        'host all all 127.0.0.1/32 scram-sha-256',
        'host replication replicator 127.0.0.1/32 scram-sha-256',
      ],
      // The standby's clone asks for an immediate checkpoint instead of a spread one (seconds saved at start).
      basebackup: [{ checkpoint: 'fast' }],
    },
    // No watchdog (it needs /dev/watchdog and root). That is why a primary whose Patroni dies keeps running, writable:
    // only HAProxy's health check keeps clients away from it.
    watchdog: { mode: 'off' },
  };
}

async function prepareLayout(options: HaClusterOptions): Promise<Layout> {
  const parent = options.baseDir ?? tmpdir();
  await mkdir(parent, { recursive: true });
  const baseDir = await mkdtemp(path.join(parent, 'todoapp-ha-'));
  const logsDir = path.join(baseDir, 'logs');
  await mkdir(logsDir);
  await giveToServiceUser(baseDir);
  const [etcdClientPort, etcdPeerPort, haproxyPort, ...nodePorts] = await distinctFreePorts(7);
  const nodes: HaNode[] = [1, 2].map((n) => {
    const nodeDir = path.join(baseDir, `node${n}`);
    return {
      name: `node${n}`,
      pgPort: nodePorts[(n - 1) * 2] as number,
      restPort: nodePorts[(n - 1) * 2 + 1] as number,
      dataDir: path.join(nodeDir, 'data'),
      configFile: path.join(baseDir, `node${n}.yml`),
      logFile: path.join(logsDir, `node${n}.log`),
    };
  });
  for (const node of nodes) {
    const nodeDir = path.dirname(node.dataDir);
    await mkdir(nodeDir, { mode: 0o700 });
    await giveToServiceUser(nodeDir);
  }
  return {
    baseDir,
    logs: new ProcessLogs(logsDir, options.log),
    nodes,
    etcdClientPort: etcdClientPort as number,
    etcdPeerPort: etcdPeerPort as number,
    haproxyPort: haproxyPort as number,
    haproxySocket: path.join(baseDir, 'haproxy.sock'),
    passwords: { superuser: randomPassword(), replication: randomPassword(), rewind: randomPassword() },
  };
}

async function startOnce(options: HaClusterOptions): Promise<HaCluster> {
  const timing = options.timing ?? DEFAULT_TIMING;
  const startTimeoutMs = options.startTimeoutMs ?? 90_000;
  const layout = await prepareLayout(options);
  const { baseDir, logs, nodes, passwords } = layout;
  const scope = `todoapp-${path.basename(baseDir).slice(-6).toLowerCase()}`;
  const patronis = new Map<string, ServiceProcess>();
  let etcd: ServiceProcess | undefined;
  let haproxy: ServiceProcess | undefined;
  const running = () => [...patronis.values(), ...(etcd ? [etcd] : []), ...(haproxy ? [haproxy] : [])];
  const cleanup = cleanUpOnExit({
    processes: running,
    dataDirs: nodes.map((node) => node.dataDir),
    baseDir,
    keepFiles: options.keepFiles ?? false,
  });
  // Every exit updates the reaper's list, so it never holds the id of a process group that is gone.
  const spawnService = (name: string, file: string, args: string[]) =>
    new ServiceProcess(name, file, args, { cwd: baseDir, logs, onExit: () => cleanup.update() });

  const host = '127.0.0.1';
  const superuser = (hosts: string, database: string, query = '') =>
    `postgres://postgres:${passwords.superuser}@${hosts}/${encodeURIComponent(database)}${query}`;
  const bothHosts = nodes.map((node) => `127.0.0.1:${node.pgPort}`).join(',');
  const nodeUrl = (node: HaNode, database = 'postgres') => superuser(`127.0.0.1:${node.pgPort}`, database);
  const url = (database = 'postgres') => superuser(`${host}:${layout.haproxyPort}`, database);
  const directUrl = (database = 'postgres') => superuser(bothHosts, database, '?target_session_attrs=primary');

  const startPatroni = (node: HaNode) => {
    // A no-op while it runs (after killPostgres, Patroni itself brings PostgreSQL back).
    if (patronis.get(node.name)?.running) return;
    patronis.set(node.name, spawnService(node.name, PATRONI, [node.configFile]));
    cleanup.update();
  };

  const leader = async (): Promise<HaNode | undefined> => {
    const answers = await Promise.all(nodes.map((node) => fetchStatus(`http://127.0.0.1:${node.restPort}/primary`)));
    return nodes.find((_node, index) => answers[index]?.status === 200);
  };

  const members = async (): Promise<ClusterMember[]> => {
    for (const node of nodes) {
      const answer = await fetchStatus(`http://127.0.0.1:${node.restPort}/cluster`);
      if (answer?.status === 200) return (JSON.parse(answer.body) as { members: ClusterMember[] }).members;
    }
    throw new Error('No Patroni REST API answered GET /cluster');
  };

  const waitForLeader = async ({
    notName,
    timeoutMs = 60_000,
    since = performance.now(),
    watch = [] as ServiceProcess[],
  }: { notName?: string; timeoutMs?: number; since?: number; watch?: ServiceProcess[] } = {}) => {
    const node = await waitFor(
      notName ? `a leader other than ${notName}` : 'a leader',
      timeoutMs,
      async () => {
        const candidate = await leader();
        if (!candidate || candidate.name === notName) return undefined;
        // Patroni says leader; PostgreSQL must also have left recovery (accept writes).
        const inRecovery = await withConnection(
          nodeUrl(candidate),
          async (sql) => (await sql`SELECT pg_is_in_recovery() AS r`)[0]?.r as boolean,
          { connectTimeoutS: 2 },
        );
        return inRecovery ? undefined : candidate;
      },
      { logs, watch },
    );
    return { node, ms: performance.now() - since };
  };

  /** The leader's streaming standbys if there are `count` of them (`sync`: one synchronous), else undefined. */
  const replicasNow = async (count: number, sync: boolean): Promise<ReplicaRow[] | undefined> => {
    const current = await leader();
    if (!current) return undefined;
    const rows = await withConnection(
      nodeUrl(current),
      (sql) =>
        sql<
          ReplicaRow[]
        >`SELECT application_name, state, sync_state FROM pg_stat_replication WHERE state = 'streaming' ORDER BY application_name`,
    );
    if (rows.length < count) return undefined;
    if (sync) {
      // PostgreSQL may already call the standby synchronous a loop before Patroni has recorded it
      // as its synchronous standby in etcd; until then Patroni would not fail over to it.
      const syncMembers = new Set(
        (await members()).filter((member) => member.role === 'sync_standby').map((member) => member.name),
      );
      if (!rows.some((row) => row.sync_state === 'sync' && syncMembers.has(row.application_name))) return undefined;
    }
    return [...rows];
  };

  const waitForReplicas: HaCluster['waitForReplicas'] = (count, { sync = false, timeoutMs = 60_000 } = {}) =>
    waitFor(
      `${count} streaming standby(s)${sync ? ', one synchronous' : ''}`,
      timeoutMs,
      () => replicasNow(count, sync),
      { logs, intervalMs: 200 },
    );

  const routedTo = async (): Promise<string[]> => {
    const csv = await haproxyCommand(layout.haproxySocket, 'show stat');
    const [header, ...rows] = csv.trim().split('\n');
    const columns = (header ?? '').replace(/^# /, '').split(',');
    const [proxy, server, status] = ['pxname', 'svname', 'status'].map((name) => columns.indexOf(name)) as [
      number,
      number,
      number,
    ];
    return (
      rows
        .map((row) => row.split(','))
        .filter(
          (fields) => fields[proxy] === 'postgres_primary' && !['FRONTEND', 'BACKEND'].includes(fields[server] ?? ''),
        )
        // "UP 1/2" is a server going down: HAProxy still sends connections to it.
        .filter((fields) => fields[status]?.startsWith('UP'))
        .map((fields) => fields[server] ?? '')
    );
  };

  const waitForRouting: HaCluster['waitForRouting'] = async (
    node,
    { timeoutMs = 60_000, since = performance.now() } = {},
  ) => {
    await waitFor(
      `HAProxy to route to ${node.name} only`,
      timeoutMs,
      async () => {
        const servers = await routedTo();
        return servers.length === 1 && servers[0] === node.name ? true : undefined;
      },
      { logs, intervalMs: 50 },
    );
    return { ms: performance.now() - since };
  };

  const waitForUnrouted: HaCluster['waitForUnrouted'] = async (
    node,
    { timeoutMs = 60_000, since = performance.now() } = {},
  ) => {
    await waitFor(
      `HAProxy to stop routing to ${node.name}`,
      timeoutMs,
      async () => ((await routedTo()).includes(node.name) ? undefined : true),
      {
        logs,
        intervalMs: 50,
      },
    );
    return { ms: performance.now() - since };
  };

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      // Patroni first, or it would restart the PostgreSQL being stopped.
      await Promise.all([...patronis.values()].map((patroni) => patroni.kill()));
      await Promise.all(nodes.map((node) => stopPostgresNow(node.dataDir, baseDir)));
      await Promise.all([haproxy?.stop(), etcd?.stop()]);
      await logs.close();
      cleanup.done();
      if (!options.keepFiles) await rm(baseDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    // etcd: one member, its data in the cluster dir.
    etcd = spawnService('etcd', ETCD, [
      '--name',
      'etcd0',
      '--data-dir',
      path.join(baseDir, 'etcd'),
      '--listen-client-urls',
      `http://127.0.0.1:${layout.etcdClientPort}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${layout.etcdClientPort}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${layout.etcdPeerPort}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${layout.etcdPeerPort}`,
      '--initial-cluster',
      `etcd0=http://127.0.0.1:${layout.etcdPeerPort}`,
      '--initial-cluster-state',
      'new',
      '--initial-cluster-token',
      scope,
    ]);
    cleanup.update();
    for (const node of nodes) {
      // JSON is YAML, so no YAML writer is needed. Mode 0600: the file holds the passwords.
      await writeFile(
        node.configFile,
        `${JSON.stringify(patroniConfig(layout, node, scope, { synchronous: options.synchronous, timing }), null, 2)}\n`,
        { mode: 0o600 },
      );
      await chmod(node.configFile, 0o600);
      await giveToServiceUser(node.configFile);
    }
    const haproxyFile = path.join(baseDir, 'haproxy.cfg');
    await writeFile(haproxyFile, haproxyConfig(layout.haproxyPort, layout.haproxySocket, nodes));
    await giveToServiceUser(haproxyFile);
    // -db: stay in the foreground (no daemon), so the harness owns the process.
    haproxy = spawnService('haproxy', HAPROXY, ['-db', '-f', haproxyFile]);
    cleanup.update();

    await waitFor(
      'etcd to be healthy',
      startTimeoutMs,
      async () => {
        const answer = await fetchStatus(`http://127.0.0.1:${layout.etcdClientPort}/health`);
        return answer?.status === 200 && /"health":\s*"true"/.test(answer.body) ? true : undefined;
      },
      { watch: [etcd], logs },
    );

    // Both at once: one wins the race to initialise the cluster, the other clones it.
    for (const node of nodes) startPatroni(node);
    const { node: first } = await waitForLeader({ timeoutMs: startTimeoutMs, watch: running() });
    await waitFor('the standby to stream', startTimeoutMs, () => replicasNow(1, options.synchronous), {
      watch: running(),
      logs,
      intervalMs: 200,
    });
    await waitForRouting(first, { timeoutMs: startTimeoutMs });
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }

  return {
    host,
    port: layout.haproxyPort,
    nodes,
    baseDir,
    synchronous: options.synchronous,
    timing,
    url,
    directUrl,
    nodeUrl,
    createDatabase: (name, owner, createOptions) =>
      createAppDatabase(
        url(),
        name,
        owner,
        { primary: `${host}:${layout.haproxyPort}`, all: bothHosts },
        createOptions,
      ),
    leader,
    members,
    waitForLeader,
    waitForReplicas,
    routedTo,
    waitForRouting,
    waitForUnrouted,
    async killPostgres(node, signal = 'SIGKILL') {
      const postmaster = await readPostmasterPid(node.dataDir);
      if (!postmaster) throw new Error(`${node.name} has no postmaster.pid: PostgreSQL is not running`);
      process.kill(postmaster.pid, signal);
      return { pid: postmaster.pid, at: performance.now() };
    },
    async killPatroni(node) {
      const patroni = patronis.get(node.name);
      if (!patroni?.running || patroni.pid === undefined) throw new Error(`Patroni of ${node.name} is not running`);
      const at = performance.now();
      await patroni.kill();
      return { pid: patroni.pid, at };
    },
    async stopPatroni(node) {
      await patronis.get(node.name)?.stop(30_000);
    },
    startPatroni,
    patroniRunning: (node) => patronis.get(node.name)?.running ?? false,
    patroniPid: (node) => {
      const patroni = patronis.get(node.name);
      return patroni?.running ? patroni.pid : undefined;
    },
    async postmasterPid(node) {
      const postmaster = await readPostmasterPid(node.dataDir);
      return postmaster && isAlive(postmaster.pid) ? postmaster.pid : undefined;
    },
    patronictl: (args, node = nodes[0] as HaNode) =>
      runAsService(PATRONICTL, ['-c', node.configFile, ...args], { cwd: baseDir, timeoutMs: 30_000 }),
    recentLogs: () => logs.tail(),
    stop,
  };
}

/**
 * Starts the cluster and returns once a leader accepts writes, the standby
 * streams from it (synchronously when `synchronous`), and HAProxy routes to the
 * leader. Ports are picked free but can be taken in between by another
 * process: then it starts over on other ports (up to three times).
 */
export async function startHaCluster(options: HaClusterOptions): Promise<HaCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      const portTaken = /address already in use|could not bind|cannot bind|Starting proxy .*: cannot/i.test(
        (error as Error).message,
      );
      if (!portTaken || attempt >= 3) throw error;
      options.log?.(`Start-up failed on a port taken in the meantime; starting over (attempt ${attempt + 1}).`);
    }
  }
}
