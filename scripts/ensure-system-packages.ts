// Makes sure the system software the tests drive is installed. Run as root on
// Debian (CI, fresh containers) it installs what is missing with apt-get;
// anywhere else it stops with the exact command to run.
//
//   tsx scripts/ensure-system-packages.ts [name ...]   (default: postgresql)
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isMain } from './is-main.ts';

export interface SystemPackage {
  name: string;
  /** Files that exist once it is installed. */
  check: string[];
  /** Debian packages providing them. */
  debianPackages: string[];
}

export const SYSTEM_PACKAGES: SystemPackage[] = [
  {
    name: 'postgresql',
    check: ['/usr/lib/postgresql/15/bin/postgres', '/usr/lib/postgresql/15/bin/initdb'],
    debianPackages: ['postgresql-15'],
  },
  { name: 'chromium', check: ['/usr/bin/chromium'], debianPackages: ['chromium'] },
  { name: 'patroni', check: ['/usr/bin/patroni'], debianPackages: ['patroni'] },
  { name: 'etcd', check: ['/usr/bin/etcd'], debianPackages: ['etcd-server'] },
  { name: 'haproxy', check: ['/usr/sbin/haproxy'], debianPackages: ['haproxy'] },
  // test/deploy/compose.test.ts: `docker-compose config` validates compose.yaml offline.
  { name: 'docker-compose', check: ['/usr/bin/docker-compose'], debianPackages: ['docker-compose'] },
  // test/deploy/containers.test.ts builds and runs the image and compose.yaml for real, rootful,
  // without a Docker engine: podman with runc (Debian's crun cannot run on cgroup v1 hybrid
  // hosts), netavark and aardvark-dns for Compose's networks and service names (named, as
  // --no-install-recommends would otherwise leave the network stack to chance), buildah, and
  // debootstrap for the local base images (test/support/containers.ts).
  {
    name: 'podman',
    check: [
      '/usr/bin/podman',
      '/usr/sbin/runc',
      '/usr/lib/podman/netavark',
      '/usr/lib/podman/aardvark-dns',
      '/usr/sbin/iptables',
      '/usr/bin/buildah',
      '/usr/sbin/debootstrap',
    ],
    debianPackages: ['podman', 'runc', 'netavark', 'aardvark-dns', 'iptables', 'buildah', 'debootstrap'],
  },
  // `npm run bench` loads the app with it (a C load generator leaves the cores to the app).
  { name: 'wrk', check: ['/usr/bin/wrk'], debianPackages: ['wrk'] },
  // test/ops/backup-drill.test.ts: the Barman Cloud tools CloudNativePG's backup plugin runs.
  {
    name: 'barman-cloud',
    check: ['/usr/bin/barman-cloud-backup', '/usr/bin/barman-cloud-restore', '/usr/bin/barman-cloud-wal-archive'],
    debianPackages: ['barman-cli-cloud'],
  },
  // test/deploy/monitoring.test.ts: promtool checks and unit-tests the alert rules.
  { name: 'prometheus', check: ['/usr/bin/promtool'], debianPackages: ['prometheus'] },
  // test/deploy/compose-tls.test.ts makes its certificate as docs/deploy.md does.
  { name: 'openssl', check: ['/usr/bin/openssl'], debianPackages: ['openssl'] },
];

// haproxy also checks the Compose load balancer's configuration (test/deploy/compose.test.ts).
export const DEFAULT_NEEDS = [
  'postgresql',
  'chromium',
  'docker-compose',
  'haproxy',
  'barman-cloud',
  'prometheus',
  'openssl',
];

export class MissingSystemPackagesError extends Error {
  override name = 'MissingSystemPackagesError';
}

function lookup(names: string[]): SystemPackage[] {
  return names.map((name) => {
    const entry = SYSTEM_PACKAGES.find((p) => p.name === name);
    if (!entry)
      throw new Error(`Unknown system package "${name}"; known: ${SYSTEM_PACKAGES.map((p) => p.name).join(', ')}`);
    return entry;
  });
}

function missing(packages: SystemPackage[]): SystemPackage[] {
  return packages.filter((p) => !p.check.every((file) => existsSync(file)));
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const POLICY_RC_D = '/usr/sbin/policy-rc.d';

function run(command: string, args: string[]): Promise<void> {
  console.log(`$ ${command} ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit code ${code}`})`));
    });
  });
}

function describe(packages: SystemPackage[]): string {
  return packages.map((p) => `${p.name} (needs ${p.check.filter((file) => !existsSync(file)).join(', ')})`).join('; ');
}

/**
 * Installs (root on Debian) or demands (anywhere else) the named system packages.
 * Throws MissingSystemPackagesError naming the install command when it cannot fix things itself.
 */
export async function ensureSystemPackages(needs: string[] = DEFAULT_NEEDS): Promise<void> {
  const absent = missing(lookup(needs));
  if (absent.length === 0) return;
  const debianPackages = [...new Set(absent.flatMap((p) => p.debianPackages))];
  const canInstall = process.getuid?.() === 0 && existsSync('/etc/debian_version') && onPath('apt-get');
  if (!canInstall) {
    throw new MissingSystemPackagesError(
      `Missing system software: ${describe(absent)}.\n` +
        `Install it with: sudo apt-get install ${debianPackages.join(' ')}\n` +
        "(or your system's equivalent packages), then run again.",
    );
  }
  console.log(`Installing missing system software: ${describe(absent)}`);
  await run('apt-get', ['update']);
  // Packages with services (postgresql's default cluster on 5432, prometheus on
  // 9090) would start them as they install; the tests start their own servers,
  // on other ports. Debian's policy-rc.d (exit 101: "action forbidden") keeps
  // them stopped, and is put in place only while installing, unless the
  // machine has one of its own (containers often do), which is left as it is.
  const placed = !existsSync(POLICY_RC_D);
  if (placed)
    await writeFile(POLICY_RC_D, '#!/bin/sh\n# todoapp tests: no service starts while apt-get installs\nexit 101\n', {
      mode: 0o755,
    });
  try {
    await run('apt-get', ['install', '-y', '--no-install-recommends', ...debianPackages]);
  } finally {
    if (placed) await rm(POLICY_RC_D, { force: true });
  }
  const stillAbsent = missing(absent);
  if (stillAbsent.length > 0) {
    throw new MissingSystemPackagesError(
      `apt-get installed ${debianPackages.join(' ')} but these are still missing: ${describe(stillAbsent)}`,
    );
  }
}

if (isMain(import.meta.url)) {
  const names = process.argv.slice(2);
  ensureSystemPackages(names.length > 0 ? names : DEFAULT_NEEDS).then(
    () => console.log('System packages: all present.'),
    (error: Error) => {
      console.error(error.message);
      process.exit(1);
    },
  );
}
