// `npm run bench:failover`: the failover drill of test/ha/failover.test.ts in
// several settings, printed as one table and written as JSON to bench/results/.
// Each row: two `todoapp serve` processes under a steady mixed load (clients
// creating, toggling and listing todos, every write with its own
// Idempotency-Key and no client retries), the leader disrupted, the old one
// brought back as a standby, and every request compared with the database.
//
//   sync, crash            SIGKILL of the primary's postgres (Patroni fails over in ~3 s)
//   sync, Patroni killed   the primary's Patroni SIGKILLed, its postgres left running (~ttl)
//   sync, budget 1 s       as "sync, crash" with DB_RETRY_BUDGET_MS shorter than the promotion
//   async, crash           asynchronous replication: fast, but a crash may lose acknowledged writes
//
// Takes about 3 minutes; stops everything it started.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureSystemPackages } from '../scripts/ensure-system-packages.ts';
import { startCliServer, type CliServer } from '../test/support/cli.ts';
import {
  HA_SYSTEM_PACKAGES,
  startHaCluster,
  type HaCluster,
  type HaNode,
  type KillRecord,
} from '../test/ha/cluster.ts';
import { describeResult, prepareDrill, runDrill, type DrillResult } from '../test/ha/drill.ts';

interface Scenario {
  name: string;
  synchronous: boolean;
  env?: Record<string, string>;
  disrupt: (cluster: HaCluster, leader: HaNode) => Promise<KillRecord>;
}

const crash = (cluster: HaCluster, leader: HaNode) => cluster.killPostgres(leader, 'SIGKILL');

const SCENARIOS: Scenario[] = [
  { name: 'sync, crash', synchronous: true, disrupt: crash },
  { name: 'sync, Patroni killed', synchronous: true, disrupt: (cluster, leader) => cluster.killPatroni(leader) },
  { name: 'sync, budget 1 s', synchronous: true, env: { DB_RETRY_BUDGET_MS: '1000' }, disrupt: crash },
  { name: 'async, crash', synchronous: false, disrupt: crash },
];

const log = (line: string) => console.error(`  ${line}`);

async function runScenarios(synchronous: boolean): Promise<[string, DrillResult][]> {
  const results: [string, DrillResult][] = [];
  const cluster = await startHaCluster({ synchronous });
  try {
    await cluster.waitForReplicas(1, { sync: synchronous });
    const setup = await prepareDrill(cluster);
    for (const scenario of SCENARIOS.filter((candidate) => candidate.synchronous === synchronous)) {
      console.error(`${scenario.name}:`);
      const env = { ...setup.env, LOG_LEVEL: 'info', ...scenario.env };
      const apps: CliServer[] = await Promise.all([startCliServer(env), startCliServer(env)]);
      try {
        const result = await runDrill({
          cluster,
          setup,
          apps,
          disrupt: (leader) => scenario.disrupt(cluster, leader),
          log,
        });
        log(describeResult(result));
        results.push([scenario.name, result]);
      } finally {
        await Promise.all(apps.map((app) => app.stop()));
      }
    }
  } finally {
    await cluster.stop();
  }
  return results;
}

function table(results: [string, DrillResult][]): string {
  const seconds = (ms: number) => (ms / 1000).toFixed(2);
  const header = [
    'scenario',
    'promotion s',
    'window s',
    'window - promotion s',
    'p99 ms',
    'max ms',
    'requests',
    'lost',
    'duplicated',
    'failed',
  ];
  const rows = results.map(([name, { report, promotionMs }]) => [
    name,
    seconds(promotionMs),
    seconds(report.windowMs),
    seconds(report.windowMs - promotionMs),
    Math.round(report.p99Ms).toString(),
    Math.round(report.maxMs).toString(),
    report.requests.toString(),
    report.lost.toString(),
    report.duplicated.toString(),
    report.failed.toString(),
  ]);
  const lines = [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  await ensureSystemPackages(HA_SYSTEM_PACKAGES);
  const started = new Date();
  const results = [...(await runScenarios(true)), ...(await runScenarios(false))];
  console.log(
    `\nFailover drill, ${started.toISOString()} (Patroni ttl 10 s, loop_wait 2 s; 2 app processes, 6 clients)\n`,
  );
  console.log(table(results));
  const folder = path.resolve('bench/results');
  await mkdir(folder, { recursive: true });
  const file = path.join(folder, `failover-${started.toISOString().replaceAll(':', '-')}.json`);
  await writeFile(file, `${JSON.stringify({ started, results: Object.fromEntries(results) }, null, 2)}\n`);
  console.log(`\nWritten to ${path.relative(process.cwd(), file)}`);
}

await main();
