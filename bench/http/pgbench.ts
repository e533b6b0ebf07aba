// The database's own limit: pgbench running the SQL a scenario runs, as a
// custom script (-f), prepared like the app's statements (-M prepared), on the
// same durable server.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { POSTGRES_BIN_DIR } from '../../test/support/postgres.ts';
import type { Children } from './children.ts';

export interface PgbenchResult {
  tps: number;
  transactions: number;
  averageLatencyMs: number;
  failed: number;
}

export interface PgbenchOptions {
  url: string;
  clients: number;
  threads: number;
  seconds: number;
  variables: Record<string, string | number>;
  scriptDir: string;
}

export async function runPgbench(
  children: Children,
  name: string,
  script: string,
  options: PgbenchOptions,
): Promise<PgbenchResult> {
  const file = path.join(options.scriptDir, `${name}.sql`);
  await writeFile(file, `${script.trim()}\n`);
  const args = [
    '--no-vacuum',
    '--protocol=prepared',
    `--client=${options.clients}`,
    `--jobs=${options.threads}`,
    `--time=${options.seconds}`,
    `--file=${file}`,
    ...Object.entries(options.variables).map(([variable, value]) => `--define=${variable}=${value}`),
    options.url,
  ];
  // PG* variables from the caller's shell would point pgbench elsewhere.
  const env = Object.fromEntries(Object.entries(process.env).filter(([variable]) => !variable.startsWith('PG')));
  const output = await children.run(path.join(POSTGRES_BIN_DIR, 'pgbench'), args, { env });
  const number = (pattern: RegExp) => Number(pattern.exec(output)?.[1] ?? Number.NaN);
  const result = {
    tps: number(/^tps = ([\d.]+)/m),
    transactions: number(/number of transactions actually processed: (\d+)/),
    averageLatencyMs: number(/latency average = ([\d.]+) ms/),
    failed: number(/number of failed transactions: (\d+)/) || 0,
  };
  if (!Number.isFinite(result.tps) || result.transactions === 0)
    throw new Error(`pgbench ${name} printed no figures:\n${output}`);
  return result;
}
