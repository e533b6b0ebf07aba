// The container image, proved without a Docker engine: deploy/docker/Dockerfile
// is replayed stage by stage in temporary folders (its COPY lines through the
// .dockerignore rules, its npm steps run for real), and the final stage's
// ENTRYPOINT + CMD then start from the result, with no TypeScript, tsx or
// sources in it, on a real PostgreSQL. The app must answer every path that
// the Kubernetes probes and the Compose healthchecks ask, and stop cleanly on
// SIGTERM.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { constants, existsSync } from 'node:fs';
import { access, cp, mkdir, mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { parse as parseYaml } from 'yaml';
import { pickFreePort } from '../support/ports.ts';
import { createTestDatabase } from '../support/postgres.ts';
import {
  argsOf,
  dockerfileProblems,
  finalEnv,
  isIgnored,
  parseCopy,
  parseDockerfile,
  parseDockerignore,
  parseExecForm,
} from './dockerfile.ts';
import { K8S_DIR, render, ROOT } from './k8s.ts';

const WORKDIR = '/app';
const stages = parseDockerfile(await readFile(path.join(ROOT, 'deploy/docker/Dockerfile'), 'utf8'));
const ignore = parseDockerignore(await readFile(path.join(ROOT, '.dockerignore'), 'utf8'));
const finalStage = stages.at(-1)!;
const lock = JSON.parse(await readFile(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { dev?: boolean }>;
};

/** npm's own variables from `npm test` would steer the npm commands the replay runs. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')));
}

function run(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`RUN ${command} failed (exit ${code}):\n${output}`)),
    );
  });
}

/** Copies from the build context as Docker would: a source the .dockerignore leaves out is an error, and nothing it leaves out is copied. */
async function copyFromContext(source: string, to: string): Promise<void> {
  if (isIgnored(ignore, source)) throw new Error(`COPY ${source}: .dockerignore leaves it out of the build context`);
  await cp(path.join(ROOT, source), to, {
    recursive: true,
    filter: (file) => !isIgnored(ignore, path.relative(ROOT, file).split(path.sep).join('/')),
  });
}

/** Replays every stage in its own folder (standing for WORKDIR /app); returns the final stage's folder. */
async function replay(tempDir: string): Promise<string> {
  const stageDirs = new Map<string, string>();
  let dir = '';
  for (const [index, stage] of stages.entries()) {
    dir = path.join(tempDir, stage.name ?? `stage-${index}`);
    await mkdir(dir);
    if (stage.name) stageDirs.set(stage.name, dir);
    const isFinal = stage === finalStage;
    for (const { keyword, args } of stage.instructions) {
      if (keyword === 'WORKDIR') assert.equal(args, WORKDIR, 'every stage works in /app');
      if (keyword === 'COPY') {
        const copy = parseCopy(args);
        for (const source of copy.sources) {
          let from: string;
          if (copy.from === undefined) from = path.join(ROOT, source);
          else {
            const stageDir = stageDirs.get(copy.from);
            assert.ok(stageDir, `COPY --from=${copy.from}: no such stage before it`);
            assert.ok(source.startsWith(`${WORKDIR}/`), `COPY --from: ${source} is outside ${WORKDIR}`);
            from = path.join(stageDir, source.slice(WORKDIR.length + 1));
          }
          // Docker copies a folder's contents into the destination, and a file
          // into it when it ends with "/" (or several sources are named).
          const isFolder = (await stat(from)).isDirectory();
          const intoFolder = copy.destination.endsWith('/') || copy.sources.length > 1;
          const to = path.join(dir, copy.destination, !isFolder && intoFolder ? path.basename(source) : '');
          if (copy.from === undefined) await copyFromContext(source, to);
          else await cp(from, to, { recursive: true });
        }
      }
      if (keyword === 'RUN' && isFinal) {
        // The final stage only sets up the system (tini, a folder, a link; see dockerfileProblems).
      } else if (keyword === 'RUN' && /^npm ci\b/.test(args) && !args.includes('--omit=dev')) {
        // The full install for the build: the same lockfile, so the checkout's
        // node_modules stands in for it (a fresh install of every dev tool would
        // only make the test slow).
        await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
      } else if (keyword === 'RUN') {
        await run(args, dir, { ...cleanEnv(), npm_config_prefer_offline: 'true' });
      }
    }
  }
  return dir;
}

interface Server {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

describe('the container image (deploy/docker/Dockerfile, replayed without Docker)', () => {
  it('is multi-stage, on a pinned Node.js LTS image, non-root, on 0.0.0.0:8000, under tini', () => {
    assert.deepEqual(dockerfileProblems(stages), []);
  });

  it('.dockerignore keeps secrets, data and build output out of the build context', () => {
    for (const file of [
      '.env',
      '.env.production',
      'data/pglite/base',
      'node_modules/tsx/package.json',
      'dist/cli.js',
      '.git/HEAD',
      'test/cli.test.ts',
      'test-artifacts/x.png',
      'src/views/static/app.js',
    ]) {
      assert.ok(isIgnored(ignore, file), `${file} is left out`);
    }
  });

  describe('replayed', () => {
    let tempDir: string;
    let appDir: string;
    let database: { url: string; drop(): Promise<void> };
    let server: Server | undefined;
    let baseUrl: string;

    const appEnv = (port: number): NodeJS.ProcessEnv => ({
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...finalEnv(stages),
      // The test's own: loopback, a free port, no metrics listener (the image's
      // 9464 could be taken on a shared machine), a temporary data folder, its database.
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_PORT: '0',
      DATA_DIR: path.join(tempDir, 'data'),
      DATABASE_URL: database.url,
      SECRET_KEY: 'a-test-secret-key-that-is-long-enough-0123456789',
    });

    /** ENTRYPOINT + CMD, without tini, with this machine's node. */
    const command = (args?: string[]) => {
      const entrypoint = parseExecForm('ENTRYPOINT', argsOf(finalStage, 'ENTRYPOINT').at(-1) ?? '').slice(2);
      const argv = [...entrypoint, ...(args ?? parseExecForm('CMD', argsOf(finalStage, 'CMD').at(-1) ?? ''))];
      assert.equal(argv[0], 'node');
      return argv.slice(1);
    };

    before(async () => {
      tempDir = await mkdtemp(path.join(tmpdir(), 'todoapp-image-'));
      database = await createTestDatabase();
      appDir = await replay(tempDir);
    });

    after(async () => {
      if (server?.child.exitCode === null) {
        server.child.kill('SIGKILL');
        await server.exited;
      }
      await database?.drop();
      if (tempDir) await rm(tempDir, { recursive: true, force: true });
    });

    it('holds the compiled app and production dependencies only: no sources, no TypeScript, no tsx', async () => {
      assert.ok(existsSync(path.join(appDir, 'dist/cli.js')), 'dist/cli.js');
      assert.ok(existsSync(path.join(appDir, 'dist/views/static/app.js')), 'the client bundle');
      assert.ok(existsSync(path.join(appDir, 'migrations')), 'migrations/');
      await access(path.join(appDir, 'bin/todoapp.js'), constants.X_OK);
      assert.ok(!existsSync(path.join(appDir, 'src')), 'no src/ (bin/todoapp.js then runs dist/)');
      for (const tool of ['typescript', 'tsx', 'esbuild'])
        assert.ok(!existsSync(path.join(appDir, 'node_modules', tool)), `no ${tool}`);
      // package-lock.json marks what only development needs ("dev": true).
      const developmentOnly = Object.entries(lock.packages).filter(
        ([where, entry]) => where.startsWith('node_modules/') && entry.dev === true,
      );
      assert.ok(developmentOnly.length > 0);
      assert.deepEqual(
        developmentOnly.map(([where]) => where).filter((where) => existsSync(path.join(appDir, where))),
        [],
        'no development-only package is installed',
      );
      assert.ok(existsSync(path.join(appDir, 'node_modules/fastify')), 'the production dependencies are');
      // patches/postgres+*.patch keeps a dropped connection from crashing the process.
      assert.match(
        await readFile(path.join(appDir, 'node_modules/postgres/src/connection.js'), 'utf8'),
        /todoapp patch/,
        'the patched postgres.js',
      );
    });

    it('migrates a fresh database with `todoapp migrate`', async () => {
      const child = spawn(process.execPath, command(['migrate']), {
        cwd: appDir,
        env: appEnv(await pickFreePort()),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk));
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0, output);
      assert.match(output, /Applied \d+ migration/);
    });

    it('serves from the compiled output with the default command', async () => {
      const port = await pickFreePort();
      const child = spawn(process.execPath, command(), {
        cwd: appDir,
        env: appEnv(port),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      const exited = once(child, 'exit').then(([code]) => code as number | null);
      server = { child, output: () => output, exited };
      await new Promise<void>((resolve, reject) => {
        const onData = (chunk: Buffer) => {
          output += chunk;
          if (output.includes('todoapp is listening')) resolve();
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        void exited.then((code) => reject(new Error(`the app exited with ${code} before listening:\n${output}`)));
      });
      baseUrl = `http://127.0.0.1:${port}`;
      const response = await fetch(`${baseUrl}/readyz`);
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { status: 'ready' });
    });

    it('answers 200 on every path the Kubernetes probes, the Compose healthcheck and HAProxy ask', async () => {
      assert.ok(baseUrl, 'the app is running');
      const [deployment] = (await render(path.join(K8S_DIR, 'overlays/cloudnativepg'))).filter(
        (object) => object.kind === 'Deployment',
      ) as unknown as IDeployment[];
      const container = deployment?.spec?.template.spec?.containers[0];
      const probePaths = [container?.startupProbe, container?.livenessProbe, container?.readinessProbe].map(
        (probe) => probe?.httpGet?.path,
      );
      const compose = parseYaml(await readFile(path.join(ROOT, 'compose.yaml'), 'utf8')) as {
        services: Record<string, { healthcheck?: { test: string[] } }>;
      };
      const composeCheck = compose.services.app?.healthcheck?.test.join(' ') ?? '';
      const composePath = /http:\/\/127\.0\.0\.1:8000(\/\S*?)'/.exec(composeCheck)?.[1];
      const haproxyPath = /http-check send meth GET uri (\S+)/.exec(
        await readFile(path.join(ROOT, 'deploy/compose/haproxy.cfg'), 'utf8'),
      )?.[1];
      const paths = [...probePaths, composePath, haproxyPath];
      assert.ok(
        paths.every((p) => p !== undefined),
        `every check names a path: ${paths.join(', ')}`,
      );
      for (const probePath of new Set(paths)) {
        const response = await fetch(`${baseUrl}${probePath}`, { headers: { host: '10.1.2.3:8000' } }); // probes come with the pod's IP as host
        assert.equal(response.status, 200, `${probePath} answers ${response.status}`);
      }
    });

    it('the Compose healthcheck command itself succeeds against it', async () => {
      const compose = parseYaml(await readFile(path.join(ROOT, 'compose.yaml'), 'utf8')) as {
        services: Record<string, { healthcheck?: { test: string[] } }>;
      };
      const [kind, program, flag, script] = compose.services.app?.healthcheck?.test ?? [];
      assert.deepEqual([kind, program, flag], ['CMD', 'node', '-e']);
      const child = spawn(process.execPath, ['-e', (script ?? '').replace('127.0.0.1:8000', new URL(baseUrl).host)], {
        stdio: 'ignore',
      });
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0);
    });

    it('stops cleanly on SIGTERM (exit 0)', async () => {
      assert.ok(server, 'the app is running');
      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 0, server.output());
      assert.match(server.output(), /shut down cleanly/);
    });
  });
});
