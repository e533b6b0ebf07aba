// The whole test command (`npm test`): system packages, typecheck, lint, then
// every test file against one shared PostgreSQL server that each test file
// creates its own databases on.
//
//   npm test                          all of test/**/*.test.ts
//   npm test -- test/foo.test.ts      just these files
//   SKIP_TYPECHECK=1 SKIP_LINT=1 npm test -- test/foo.test.ts
//
// It runs on the Node 22 package.json pins (scripts/node-version.ts) and stops at once on any other.
// Test files are always passed by name: Node 22's `node --test DIR` would take DIR for a module.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { constants } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgresServer, type PostgresServer } from '../test/support/postgres.ts';
import { DEFAULT_NEEDS, ensureSystemPackages } from './ensure-system-packages.ts';
import { requireNode22 } from './node-version.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name: string) => path.join(root, 'node_modules', '.bin', name);
/** What Prettier formats: the code (.prettierignore keeps docs, manifests and data as written). */
const PRETTIER_FILES = ['**/*.{ts,mjs,js}'];

let server: PostgresServer | undefined;
let stopping = false;
let child: ChildProcess | undefined;

function header(title: string): void {
  console.log(`\n=== ${title}`);
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)}s`;
}

/** Runs a command with inherited output; resolves to its exit code (128+n when killed by a signal). */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve) => {
    child = spawn(command, args, { cwd: root, stdio: 'inherit', env });
    child.on('error', (error) => {
      console.error(`Could not run ${command}: ${error.message}`);
      resolve(127);
    });
    child.on('exit', (code, signal) => {
      child = undefined;
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}

async function findTestFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await findTestFiles(full)));
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) files.push(full);
  }
  return files.sort();
}

function skipped(variable: string): boolean {
  const value = process.env[variable];
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

async function main(): Promise<number> {
  // Every child below (the build, the test runner, and the servers and CLIs the tests spawn with
  // process.execPath) runs on this same Node: the image's, not whatever the machine has.
  header('Node');
  requireNode22('npm test');
  let started = performance.now();
  header('System packages');
  // The defaults, and what test/ha/ drives: Patroni, etcd and HAProxy.
  await ensureSystemPackages([...new Set([...DEFAULT_NEEDS, 'patroni', 'etcd', 'haproxy'])]);
  console.log(`ok (${seconds(started)})`);

  // The page's script (src/views/static/app.js), dist/ for the tests that run
  // what ships, and the kept empty PGlite cluster that new data folders copy.
  header('Build: node scripts/build.mjs');
  started = performance.now();
  const built = await run(process.execPath, ['scripts/build.mjs']);
  if (built !== 0) return built;
  console.log(`ok (${seconds(started)})`);

  if (skipped('SKIP_TYPECHECK')) {
    header('Typecheck: skipped (SKIP_TYPECHECK)');
  } else {
    header('Typecheck: tsc --noEmit (server, then src/client)');
    started = performance.now();
    const code = await run(bin('tsc'), ['--noEmit']);
    if (code !== 0) return code;
    const clientCode = await run(bin('tsc'), ['--noEmit', '-p', 'src/client']);
    if (clientCode !== 0) return clientCode;
    console.log(`ok (${seconds(started)})`);
  }

  if (skipped('SKIP_LINT')) {
    header('Lint: skipped (SKIP_LINT)');
  } else {
    header(`Lint: eslint . and prettier --check (the code's format; \`npm run format\` writes it)`);
    started = performance.now();
    const code = await run(bin('eslint'), ['.']);
    if (code !== 0) return code;
    const formatted = await run(bin('prettier'), ['--check', '--log-level', 'warn', ...PRETTIER_FILES]);
    if (formatted !== 0) return formatted;
    console.log(`ok (${seconds(started)})`);
  }

  const requested = process.argv.slice(2);
  const files =
    requested.length > 0
      ? requested
      : (await findTestFiles(path.join(root, 'test'))).map((file) => path.relative(root, file));
  if (files.length === 0) {
    console.error('No test files found (test/**/*.test.ts).');
    return 1;
  }

  header('PostgreSQL: starting the shared test server');
  started = performance.now();
  server = await startPostgresServer();
  const adminUrl = server.url('postgres');
  console.log(`${adminUrl} (${seconds(started)})`);

  header(`Tests: ${files.length} file(s)`);
  started = performance.now();
  const code = await run(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files],
    { ...process.env, TEST_PG_ADMIN_URL: adminUrl },
  );
  if (stopping) return code;
  console.log(`\nTests ${code === 0 ? 'passed' : `failed (exit code ${code})`} in ${seconds(started)}`);
  return code;
}

async function stopServer(): Promise<void> {
  const running = server;
  server = undefined;
  if (running) await running.stop();
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.error(`\nReceived ${signal}: stopping.`);
    // Ctrl-C reaches the whole process group, but a SIGTERM sent to us alone must be passed on.
    child?.kill(signal);
    stopServer()
      .catch((error: Error) => console.error(`Could not stop the test PostgreSQL server: ${error.message}`))
      .finally(() => process.exit(128 + constants.signals[signal]));
  });
}

let exitCode: number;
try {
  exitCode = await main();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  exitCode = 1;
}
if (!stopping) {
  try {
    await stopServer();
  } catch (error) {
    console.error(`Could not stop the test PostgreSQL server: ${(error as Error).message}`);
    exitCode ||= 1;
  }
  process.exit(exitCode);
}
