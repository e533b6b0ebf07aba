// compose.yaml: Debian's docker-compose validates it (offline: `config` only
// reads files), and its structure is what `docker compose up` needs for a
// primary + streaming standby, a one-shot migration the app waits for, and
// two app replicas behind one port, with every credential from .env.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseDocument, parse as parseYaml, type Document } from 'yaml';
import { loadConfig } from '../../src/config.ts';
import { isPinnedImage } from './k8s-invariants.ts';
import { ROOT } from './k8s.ts';

const execFileAsync = promisify(execFile);

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] };
  deploy?: { replicas?: number };
  ports?: unknown[];
  volumes?: (string | { source?: string; target?: string })[];
  restart?: string;
  container_name?: string;
}

interface ComposeFile {
  services: Record<string, ComposeService>;
}

/** Looks like a credential: never written into compose.yaml, never given a value in .env.example. */
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|KEY/i;

function envFileEntries(text: string): [string, string][] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const at = line.indexOf('=');
      return [line.slice(0, at), line.slice(at + 1)];
    });
}

/** `docker-compose config`: validates the file against the Compose schema and resolves ${…} from the env file. */
async function composeConfig(file: string, envFile: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    // Only PATH and HOME: the developer's own variables must not fill in ${…}.
    const { stdout, stderr } = await execFileAsync(
      'docker-compose',
      ['--project-directory', ROOT, '-f', file, '--env-file', envFile, 'config'],
      {
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number | string; stdout?: string; stderr?: string };
    if (failure.code === 'ENOENT')
      throw new Error(
        "docker-compose is not installed (Debian's docker-compose package; npm test installs it as root)",
        { cause: error },
      );
    return { code: Number(failure.code ?? 1), stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}

/** What `docker compose up` relies on, checked on the resolved file (and the raw one, for secrets). */
function composeProblems(config: ComposeFile, raw: ComposeFile, version: string): string[] {
  const problems: string[] = [];
  const { services } = config;
  const expected = ['app', 'db-primary', 'db-standby', 'lb', 'migrate'];
  const names = Object.keys(services).sort();
  if (names.join() !== expected.join()) problems.push(`services are ${names.join(', ')}, not ${expected.join(', ')}`);

  for (const [name, service] of Object.entries(services)) {
    if (!isPinnedImage(service.image))
      problems.push(`${name}: image ${service.image ?? '(unset)'} is not pinned to a version`);
    for (const [dependency, { condition } = {}] of Object.entries(service.depends_on ?? {})) {
      if (!condition || condition === 'service_started')
        problems.push(`${name}: depends on ${dependency} without waiting for it to be healthy or done`);
      if (condition === 'service_healthy' && !services[dependency]?.healthcheck)
        problems.push(`${name}: waits for ${dependency} to be healthy, but it has no healthcheck`);
    }
    const longRunning = service.restart !== 'no';
    if (longRunning && !service.healthcheck?.test?.length) problems.push(`${name}: no healthcheck`);
    if (service.container_name) problems.push(`${name}: container_name prevents replicas`);
  }

  const { app, migrate, lb } = services;
  if (app) {
    if ((app.deploy?.replicas ?? 1) < 2) problems.push('app: fewer than 2 replicas');
    if (app.depends_on?.migrate?.condition !== 'service_completed_successfully')
      problems.push('app: does not wait for migrate to complete successfully');
    if (app.ports?.length)
      problems.push('app: publishes ports itself (replicas would clash); the load balancer publishes the port');
    if (app.image !== `todoapp:${version}`)
      problems.push(`app: image ${app.image ?? '(unset)'} is not todoapp:${version}`);
    if (app.build?.dockerfile !== 'deploy/docker/Dockerfile')
      problems.push('app: not built from deploy/docker/Dockerfile');
    // The app must accept its configuration (src/config.ts), and know both database servers.
    try {
      const settings = loadConfig(app.environment ?? {});
      if (settings.database.kind !== 'server' || !/db-primary.*,.*db-standby/.test(settings.database.url))
        problems.push('app: is not given both database servers');
    } catch (error) {
      problems.push(`app: the app rejects its configuration: ${(error as Error).message}`);
    }
  }
  if (migrate) {
    if (migrate.command?.join(' ') !== 'migrate') problems.push('migrate: does not run `todoapp migrate`');
    if (migrate.restart !== 'no') problems.push('migrate: is not one-shot (restart: "no")');
    if (migrate.image !== app?.image) problems.push('migrate: runs another image than the app');
  }
  if (lb) {
    if (!lb.ports?.length) problems.push('lb: publishes no port');
    if (lb.depends_on?.app?.condition !== 'service_healthy') problems.push('lb: does not wait for a healthy app');
  }
  const standby = services['db-standby'];
  if (standby?.depends_on?.['db-primary']?.condition !== 'service_healthy')
    problems.push('db-standby: does not wait for a healthy primary');

  // Credentials: only ${VAR:?…} in compose.yaml, never a value or a default.
  for (const [name, service] of Object.entries(raw.services)) {
    for (const [variable, value] of Object.entries(service.environment ?? {})) {
      if (SECRET_NAME.test(variable) && !/^\$\{[A-Z_]+:\?[^}]*\}$/.test(String(value))) {
        problems.push(`${name}: ${variable} must be \${VARIABLE:?…} from .env, not ${JSON.stringify(value)}`);
      }
    }
  }
  return problems;
}

describe('compose.yaml', () => {
  let tempDir: string;
  let raw: ComposeFile;
  let config: ComposeFile;
  let version: string;
  let envExample: [string, string][];

  before(async () => {
    tempDir = await mkdtemp(path.join(tmpdir(), 'todoapp-compose-'));
    // merge: compose.yaml shares settings through YAML merge keys (<<: *todoapp).
    raw = parseYaml(await readFile(path.join(ROOT, 'compose.yaml'), 'utf8'), { merge: true }) as ComposeFile;
    version = (JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    envExample = envFileEntries(await readFile(path.join(ROOT, '.env.example'), 'utf8'));
    // .env.example with every empty value filled in, as a person would.
    const filled = envExample
      .map(([key, value]) => `${key}=${value || randomBytes(36).toString('base64url')}`)
      .join('\n');
    await writeFile(path.join(tempDir, '.env'), `${filled}\n`);
    const result = await composeConfig(path.join(ROOT, 'compose.yaml'), path.join(tempDir, '.env'));
    assert.equal(result.code, 0, `docker-compose config failed:\n${result.stderr}`);
    config = parseYaml(result.stdout) as ComposeFile;
  });

  after(async () => {
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  });

  it('is valid for docker-compose and has what `docker compose up` needs', () => {
    assert.deepEqual(composeProblems(config, raw, version), []);
  });

  it('.env.example names every variable compose.yaml uses, and holds no secret', async () => {
    const used = new Set(
      [...(await readFile(path.join(ROOT, 'compose.yaml'), 'utf8')).matchAll(/\$\{([A-Z_]+)/g)].map(
        (match) => match[1],
      ),
    );
    assert.deepEqual([...used].sort(), envExample.map(([key]) => key).sort());
    for (const [key, value] of envExample)
      if (SECRET_NAME.test(key)) assert.equal(value, '', `${key} has a value in .env.example`);
  });

  it('.env is git-ignored', async () => {
    const { stdout } = await execFileAsync('git', ['check-ignore', '.env'], { cwd: ROOT });
    assert.equal(stdout.trim(), '.env');
  });

  it('refuses to start while a secret is missing from .env', async () => {
    const envFile = path.join(tempDir, 'missing.env');
    await writeFile(
      envFile,
      envExample.map(([key, value]) => `${key}=${key === 'SECRET_KEY' ? '' : value || 'x'}`).join('\n'),
    );
    const result = await composeConfig(path.join(ROOT, 'compose.yaml'), envFile);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /set SECRET_KEY in \.env/);
  });

  it('the standby is cloned with pg_basebackup -R through the slot the primary makes', async () => {
    const standbyScript = (await readFile(path.join(ROOT, 'deploy/compose/standby-entrypoint.sh'), 'utf8')).replace(
      /\\\n\s*/g,
      ' ',
    );
    const primaryScript = await readFile(path.join(ROOT, 'deploy/compose/primary-init.sh'), 'utf8');
    const mounted = (service: string) => (raw.services[service]?.volumes ?? []).map(String);
    assert.ok(
      mounted('db-standby').some((volume) => volume.startsWith('./deploy/compose/standby-entrypoint.sh:')),
      'the standby runs the script',
    );
    assert.ok(
      mounted('db-primary').some((volume) =>
        volume.startsWith('./deploy/compose/primary-init.sh:/docker-entrypoint-initdb.d/'),
      ),
      'the primary runs its init script',
    );
    assert.match(standbyScript, /pg_basebackup [^\n]*--write-recovery-conf/);
    const slot = /--slot=(\w+)/.exec(standbyScript)?.[1];
    assert.ok(
      slot && primaryScript.includes(`pg_create_physical_replication_slot('${slot}')`),
      'the primary creates the slot the standby uses',
    );
    assert.match(primaryScript, /host replication replicator all scram-sha-256/);
  });

  it('HAProxy sends to as many replicas as there are, and its configuration is valid', async () => {
    const haproxy = await readFile(path.join(ROOT, 'deploy/compose/haproxy.cfg'), 'utf8');
    const slots = Number(/server-template \S+ (\d+) app:8000/.exec(haproxy)?.[1]);
    assert.ok(slots >= (config.services.app?.deploy?.replicas ?? 1), 'a server slot for every replica');
    await execFileAsync('haproxy', ['-c', '-f', path.join(ROOT, 'deploy/compose/haproxy.cfg')]);
  });

  describe('the checks reject', () => {
    const fixtures: [string, (file: ComposeFile) => void, RegExp][] = [
      [
        'an app that does not wait for the migration',
        (f) => void delete f.services.app!.depends_on!.migrate,
        /app: does not wait for migrate/,
      ],
      [
        'a dependency without a condition',
        (f) => void (f.services.migrate!.depends_on = { 'db-primary': {} }),
        /migrate: depends on db-primary without waiting/,
      ],
      [
        'a service without a healthcheck',
        (f) => void delete f.services['db-standby']!.healthcheck,
        /db-standby: no healthcheck/,
      ],
      ['a single replica', (f) => void (f.services.app!.deploy = { replicas: 1 }), /fewer than 2 replicas/],
      [
        'an unpinned image',
        (f) => void (f.services['db-primary']!.image = 'postgres:latest'),
        /db-primary: image postgres:latest is not pinned/,
      ],
      [
        'a password written into the file',
        (f) => void (f.services['db-primary']!.environment!.POSTGRES_PASSWORD = 'hunter2'),
        /db-primary: POSTGRES_PASSWORD must be/,
      ],
      [
        'a secret with a default',
        (f) => void (f.services.app!.environment!.SECRET_KEY = '${SECRET_KEY:-changeme-changeme-changeme-changeme}'),
        /app: SECRET_KEY must be/,
      ],
      [
        'a setting the app rejects',
        (f) => void (f.services.app!.environment!.LOG_LEVEL = 'verbose'),
        /the app rejects its configuration/,
      ],
    ];
    for (const [name, change, expected] of fixtures) {
      it(name, () => {
        const changedConfig = structuredClone(config);
        const changedRaw = structuredClone(raw);
        change(changedConfig);
        change(changedRaw);
        const problems = composeProblems(changedConfig, changedRaw, version);
        assert.ok(
          problems.some((problem) => expected.test(problem)),
          `expected ${expected}, got:\n${problems.join('\n')}`,
        );
      });
    }

    it('docker-compose itself rejects an invalid file (a misspelt condition, an unknown key)', async () => {
      const text = await readFile(path.join(ROOT, 'compose.yaml'), 'utf8');
      const cases: [string, (document: Document) => void, RegExp][] = [
        ['unchanged', () => {}, /^$/],
        [
          'misspelt condition',
          (document) => document.setIn(['services', 'app', 'depends_on', 'migrate', 'condition'], 'service_completed'),
          /service_completed/,
        ],
        ['unknown key', (document) => document.setIn(['services', 'app', 'healthchek'], {}), /healthchek/],
      ];
      for (const [name, change, expected] of cases) {
        // Edited as a YAML document, so everything else (anchors, quoting) stays as written.
        const document = parseDocument(text);
        change(document);
        const file = path.join(tempDir, 'changed.yaml');
        await writeFile(file, document.toString());
        const result = await composeConfig(file, path.join(tempDir, '.env'));
        // The unchanged file, written back, must pass: the others fail for their change alone.
        assert.equal(result.code === 0, name === 'unchanged', `${name}: exit ${result.code}\n${result.stderr}`);
        assert.match(result.code === 0 ? '' : result.stderr, expected, name);
      }
    });
  });
});
