// `npm run cluster`: a highly available PostgreSQL on this machine — two
// PostgreSQL 15 nodes managed by Patroni (with a single-member etcd), HAProxy
// in front routing to the leader — the same harness the failover tests use
// (test/ha/cluster.ts). It creates the database `todoapp` with its own role,
// prints how to run the app against it and how to run the failover drill,
// follows the leader, and stops everything on Ctrl-C.
//
//   npm run cluster                 synchronous replication (no acknowledged write lost in a failover)
//   npm run cluster -- --async      asynchronous replication
//   npm run cluster -- --fast       Patroni's ttl 6 s instead of 10 s (quicker failover when Patroni or the node dies)
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  DEFAULT_TIMING,
  FAST_TIMING,
  HA_SYSTEM_PACKAGES,
  startHaCluster,
  type HaCluster,
  type HaNode,
} from '../test/ha/cluster.ts';
import { ensureSystemPackages } from './ensure-system-packages.ts';

const USAGE = 'Usage: npm run cluster [-- --async] [-- --fast]';

function parseOptions(): { synchronous: boolean; fast: boolean } {
  try {
    const { values } = parseArgs({
      options: { async: { type: 'boolean' }, fast: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    return { synchronous: !values.async, fast: values.fast ?? false };
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

async function describeNodes(cluster: HaCluster): Promise<string> {
  const leader = await cluster.leader();
  const lines = await Promise.all(
    cluster.nodes.map(async (node) => {
      // Without its Patroni a node's role is unknown: an old primary may still run as one.
      const role = leader?.name === node.name ? 'leader ' : cluster.patroniRunning(node) ? 'standby' : 'no Patroni';
      const postmaster = (await cluster.postmasterPid(node)) ?? '-';
      const patroni = cluster.patroniPid(node) ?? 'not running';
      return `  ${node.name}  ${role}  PostgreSQL 127.0.0.1:${node.pgPort} (postmaster pid ${postmaster})  Patroni pid ${patroni}, REST http://127.0.0.1:${node.restPort}`;
    }),
  );
  return lines.join('\n');
}

async function printInstructions(
  cluster: HaCluster,
  urls: { url: string; directUrl: string },
  secretKey: string,
): Promise<void> {
  const [first] = cluster.nodes as [HaNode, ...HaNode[]];
  const leader = (await cluster.leader()) ?? first;
  const env = `DATABASE_URL=${quote(urls.url)} SECRET_KEY=${quote(secretKey)}`;
  console.log(`
A highly available PostgreSQL 15 is running (${cluster.synchronous ? 'synchronous' : 'asynchronous'} replication; Patroni ttl ${cluster.timing.ttl} s, loop_wait ${cluster.timing.loopWait} s).
${await describeNodes(cluster)}
  HAProxy 127.0.0.1:${cluster.port} routes to the leader.
  Files and logs: ${cluster.baseDir} (removed on exit)

The app's database "todoapp", role "todoapp" (with pg_monitor, for replication-status):
  through HAProxy:      ${urls.url}
  direct, multi-host:   ${urls.directUrl}

Run the app against it (in another terminal, from this checkout):
  ${env} MIGRATE_ON_START=true npm start
Check replication:
  ${env} npx todoapp replication-status

The failover drill:
  Watch the cluster:                 watch -n 1 patronictl -c ${first.configFile} list
  Crash the leader's PostgreSQL:     kill -9 $(head -1 ${leader.dataDir}/postmaster.pid)    (type "status" for the current leader and pids)
                                     (Patroni promotes the standby in about 2–4 s and restarts the old one as a standby)
  Kill the leader's Patroni:         kill -9 ${cluster.patroniPid(leader) ?? '<pid>'}
                                     (the standby takes over after the ttl, about ${cluster.timing.ttl}–${cluster.timing.ttl + 2} s; HAProxy stops routing
                                     to the old leader within a second, but it keeps running as a primary: type "start ${leader.name}"
                                     here to restart its Patroni, which rejoins it as a standby)
Commands here: "status", "start node1|node2" (restart a Patroni you killed), Ctrl-C to stop everything.
`);
}

/** Reports leader changes and Patronis that died, once a second. */
function follow(cluster: HaCluster, initialLeader: string | undefined): NodeJS.Timeout {
  let leader = initialLeader;
  let leaderlessSince: number | undefined;
  const patroniUp = new Map(cluster.nodes.map((node) => [node.name, true]));
  let busy = false;
  return setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      const current = (await cluster.leader())?.name;
      const time = new Date().toISOString().slice(11, 19);
      if (current !== leader) {
        if (current === undefined) {
          leaderlessSince = performance.now();
          console.log(`${time}  no leader (HAProxy has nowhere to send writes)`);
        } else {
          const gap =
            leaderlessSince === undefined
              ? ''
              : ` after ${((performance.now() - leaderlessSince) / 1000).toFixed(1)} s without one`;
          console.log(`${time}  the leader is now ${current}${gap}`);
          leaderlessSince = undefined;
        }
        leader = current;
      }
      for (const node of cluster.nodes) {
        const running = cluster.patroniRunning(node);
        if (patroniUp.get(node.name) && !running)
          console.log(`${time}  the Patroni of ${node.name} has exited; type "start ${node.name}" to start it again`);
        patroniUp.set(node.name, running);
      }
    })().finally(() => (busy = false));
  }, 1_000);
}

function acceptCommands(cluster: HaCluster): void {
  if (!process.stdin.isTTY) return;
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => {
    const [command, name] = line.trim().split(/\s+/);
    const node = cluster.nodes.find((candidate) => candidate.name === name);
    if (command === 'status') {
      void describeNodes(cluster).then(console.log);
    } else if (command === 'start' && node) {
      if (cluster.patroniRunning(node)) console.log(`The Patroni of ${node.name} is running.`);
      else {
        cluster.startPatroni(node);
        console.log(`Started the Patroni of ${node.name}; it rejoins as a standby.`);
      }
    } else if (command) {
      console.log('Commands: "status", "start node1", "start node2"; Ctrl-C stops everything.');
    }
  });
}

const options = parseOptions();
await ensureSystemPackages(HA_SYSTEM_PACKAGES);
console.log(
  `Starting two PostgreSQL nodes with Patroni, etcd and HAProxy (${options.synchronous ? 'synchronous' : 'asynchronous'})…`,
);
const started = performance.now();
let cluster: HaCluster;
try {
  cluster = await startHaCluster({
    synchronous: options.synchronous,
    timing: options.fast ? FAST_TIMING : DEFAULT_TIMING,
  });
} catch (error) {
  console.error(`The cluster did not start: ${(error as Error).message}`);
  process.exit(1);
}
const app = await cluster.createDatabase('todoapp', 'todoapp', { monitor: true });
console.log(`Ready in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
// A fresh key per run: the database is thrown away on exit anyway.
await printInstructions(cluster, app, randomBytes(36).toString('base64url'));
const follower = follow(cluster, (await cluster.leader())?.name);
acceptCommands(cluster);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    clearInterval(follower);
    console.log('\nStopping Patroni, PostgreSQL, etcd and HAProxy…');
    cluster.stop().then(
      () => {
        console.log('Stopped; the cluster’s files are removed.');
        process.exit(0);
      },
      (error: Error) => {
        console.error(`Could not stop everything cleanly: ${error.message}`);
        process.exit(1);
      },
    );
  });
}
