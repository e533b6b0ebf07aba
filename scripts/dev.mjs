// `npm run dev`: the server for people changing the code. It builds what `npm start` builds
// (scripts/build.mjs: dist/ and the page's script), runs `node dist/cli.js serve` on the embedded
// database in ./data (DATA_DIR, as npm start), and on every change under src/ builds again and
// restarts the server (a failed build keeps the running one and says why). Logs at LOG_LEVEL
// (default debug), through pino-pretty; this script's own lines go to standard error, past it.
// pino-pretty runs in a process group of its own, so that Ctrl-C stops the server first and it
// still prints the server's last lines (behind a shell pipe it died first, and the server's
// shutdown logging met a closed pipe).
//
// Its own watcher rather than `node --watch`: the build writes src/views/static/app.js, which a
// watcher of src/ would take for a change and restart on forever; here that one file is ignored.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { watch } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildClient, buildServer } from './build.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const GENERATED = path.join('views', 'static', 'app.js');
/** Editors write a file in several steps: one rebuild for them all. */
const SETTLE_MS = 100;

const say = (text) => process.stderr.write(`[dev] ${text}\n`);
const env = { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'debug' };

async function build() {
  const started = performance.now();
  await buildClient();
  await buildServer();
  return Math.round(performance.now() - started);
}

const pretty = spawn(process.execPath, [path.join(root, 'node_modules/pino-pretty/bin.js')], {
  stdio: ['pipe', 'inherit', 'inherit'],
  detached: true,
});
pretty.stdin.on('error', () => {}); // it went first after all: the server's lines are lost, nothing else

let server;
let stopping = false;

function start() {
  // Same Node as this script (package.json's pinned 22), same flags as npm start.
  server = spawn(process.execPath, ['--max-semi-space-size=4', path.join(root, 'dist/cli.js'), 'serve'], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
    // Its own process group: Ctrl-C reaches this script (and npm, which passes it on as well), and
    // the server hears of it once, from here; two signals would make it exit at once, uncleanly.
    detached: true,
  });
  const child = server;
  child.stdout.pipe(pretty.stdin, { end: false });
  child.on('exit', (code, signal) => {
    if (server === child) server = undefined;
    if (!stopping && !child.restarting) say(`the server exited (${signal ?? `code ${code}`}); waiting for a change`);
  });
}

/** SIGTERM, then until the server has exited: it holds DATA_DIR's lock, which the next one needs. */
function stop() {
  const child = server;
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  child.restarting = true;
  return new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

let timer;
let running = Promise.resolve();
const changed = new Set();

function rebuild() {
  const files = [...changed];
  changed.clear();
  running = running.then(async () => {
    try {
      const ms = await build();
      say(`${files.slice(0, 3).join(', ')}${files.length > 3 ? ' …' : ''} changed: built in ${ms} ms, restarting`);
    } catch (error) {
      say(`the build failed, the server runs on unchanged: ${error.message}`);
      return;
    }
    await stop();
    if (!stopping) start();
  });
}

say(`built in ${await build()} ms; serving (DATA_DIR ${env.DATA_DIR ?? 'data'}, LOG_LEVEL ${env.LOG_LEVEL})`);
start();
watch(src, { recursive: true }, (_event, file) => {
  if (!file || file === GENERATED || file.endsWith('~')) return;
  changed.add(file);
  clearTimeout(timer);
  timer = setTimeout(rebuild, SETTLE_MS);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void running
      .then(stop)
      .then(() => new Promise((resolve) => pretty.stdin.end(resolve)))
      .then(() => process.exit(0));
  });
}
