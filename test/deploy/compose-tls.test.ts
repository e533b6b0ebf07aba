// HTTPS in front of Compose: deploy/compose/tls.yaml adds the certificate to
// HAProxy as docker-compose resolves it, and the real haproxy.cfg, run by the
// machine's HAProxy in front of a real app, terminates TLS with a certificate
// made the way docs/deploy.md says, redirects plain HTTP, and tells the app the
// scheme itself, so that the app's cookies are Secure and __Host- prefixed and
// it sends HSTS over HTTPS only. Without a certificate the same file serves
// plain HTTP as before.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { startTestApp, type TestApp } from '../support/app.ts';
import { pickFreePort } from '../support/ports.ts';
import { ROOT } from './k8s.ts';

const run = promisify(execFile);

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

/** GET over HTTPS, trusting only `ca`, with the Host name the certificate is for. */
function httpsGet(port: number, pathname: string, ca: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = https.get({
      host: '127.0.0.1',
      port,
      path: pathname,
      servername: 'localhost',
      ca,
      headers: { host: 'localhost' },
    });
    request.on('response', (response) => {
      response.resume();
      resolve({ status: response.statusCode ?? 0, headers: response.headers });
    });
    request.on('error', reject);
  });
}

async function httpGet(port: number, pathname: string, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`http://127.0.0.1:${port}${pathname}`, {
    redirect: 'manual',
    headers,
  });
  await response.arrayBuffer();
  return {
    status: response.status,
    headers: { ...Object.fromEntries(response.headers), 'set-cookie': response.headers.getSetCookie() },
  };
}

/** haproxy.cfg as shipped, with its ports moved to free ones and the app's replicas replaced by the test's app. */
async function haproxyConfig(appPort: number, httpPort: number, httpsPort: number): Promise<string> {
  const shipped = await readFile(path.join(ROOT, 'deploy/compose/haproxy.cfg'), 'utf8');
  const replacements: [string, string][] = [
    ['bind :8000', `bind 127.0.0.1:${httpPort}`],
    ['bind :8443', `bind 127.0.0.1:${httpsPort}`],
    ['server-template app 4 app:8000', `server app1 127.0.0.1:${appPort}`],
  ];
  let config = shipped;
  for (const [from, to] of replacements) {
    assert.ok(config.includes(from), `haproxy.cfg has "${from}"`);
    config = config.replace(from, to);
  }
  return config;
}

describe('HTTPS in front of Compose (deploy/compose/tls.yaml, haproxy.cfg)', () => {
  let dir: string;
  let app: TestApp;
  let certificate: string;
  const proxies: ChildProcess[] = [];

  /** HAProxy with the shipped configuration, TLS_CERT set or not; resolves once it sends to the app. */
  async function startHaproxy(withCertificate: boolean): Promise<{ httpPort: number; httpsPort: number }> {
    const httpPort = await pickFreePort();
    const httpsPort = await pickFreePort();
    const file = path.join(dir, `haproxy-${withCertificate ? 'tls' : 'plain'}.cfg`);
    await writeFile(file, await haproxyConfig(Number(new URL(app.baseUrl).port), httpPort, httpsPort));
    const env = { PATH: process.env.PATH, ...(withCertificate ? { TLS_CERT: path.join(dir, 'todoapp.pem') } : {}) };
    const proxy = spawn('haproxy', ['-db', '-f', file], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    proxies.push(proxy);
    let output = '';
    proxy.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Ready once the health check has found the app: then a request is answered by it, not with 503.
    for (let attempt = 0; ; attempt++) {
      assert.equal(proxy.exitCode, null, `haproxy exited:\n${output}`);
      const answer = await httpGet(httpPort, '/healthz').catch(() => undefined);
      if (answer && answer.status !== 503) break;
      assert.ok(attempt < 100, `haproxy never reached the app:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { httpPort, httpsPort };
  }

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'todoapp-compose-tls-'));
    // As docs/deploy.md makes a certificate for a first try: self-signed, key and chain in one PEM.
    await run(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost',
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
      ],
      { cwd: dir },
    );
    certificate = await readFile(path.join(dir, 'cert.pem'), 'utf8');
    await writeFile(path.join(dir, 'todoapp.pem'), certificate + (await readFile(path.join(dir, 'key.pem'), 'utf8')));
    // compose.yaml's own TRUST_PROXY, and loopback: here HAProxy reaches the app from 127.0.0.1, not from
    // Compose's network.
    const compose = parseYaml(await readFile(path.join(ROOT, 'compose.yaml'), 'utf8'), { merge: true }) as {
      services: { app: { environment: Record<string, string> } };
    };
    app = await startTestApp('pglite', { TRUST_PROXY: `${compose.services.app.environment.TRUST_PROXY},127.0.0.0/8` });
  });

  after(async () => {
    for (const proxy of proxies) {
      if (proxy.exitCode === null) {
        proxy.kill('SIGTERM');
        await once(proxy, 'exit');
      }
    }
    await app?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('docker-compose adds the certificate, the HTTPS port and TLS_CERT to the load balancer only with tls.yaml', async () => {
    const envFile = path.join(dir, '.env');
    const config = async (files: string[], extra: string) => {
      const secrets = ['POSTGRES_PASSWORD', 'REPLICATION_PASSWORD', 'SECRET_KEY'].map(
        (name) => `${name}=${randomBytes(36).toString('base64url')}`,
      );
      await writeFile(envFile, [...secrets, extra].join('\n'));
      const args = [
        '--project-directory',
        ROOT,
        ...files.flatMap((f) => ['-f', path.join(ROOT, f)]),
        '--env-file',
        envFile,
        'config',
      ];
      return run('docker-compose', args, { env: { PATH: process.env.PATH, HOME: process.env.HOME } });
    };
    const files = ['compose.yaml', 'deploy/compose/tls.yaml'];
    const { stdout } = await config(files, 'TLS_CERT_FILE=./todoapp.pem');
    const lb = (
      parseYaml(stdout) as {
        services: Record<string, { ports?: unknown[]; environment?: Record<string, string>; volumes?: unknown[] }>;
      }
    ).services.lb;
    assert.equal(lb?.environment?.TLS_CERT, '/usr/local/etc/haproxy/certs/todoapp.pem');
    assert.ok(
      JSON.stringify(lb?.ports).includes('"target":8443') || JSON.stringify(lb?.ports).includes('443:8443'),
      JSON.stringify(lb?.ports),
    );
    assert.match(JSON.stringify(lb?.volumes), /todoapp\.pem.*\/usr\/local\/etc\/haproxy\/certs\/todoapp\.pem/);
    // Without a file named, tls.yaml refuses instead of mounting nothing.
    await assert.rejects(config(files, ''), /set TLS_CERT_FILE in \.env/);
    // And compose.yaml alone is as before: no HTTPS at all.
    const plain = parseYaml((await config(['compose.yaml'], '')).stdout) as {
      services: Record<string, { environment?: object }>;
    };
    assert.equal(plain.services.lb?.environment, undefined);
  });

  it('with a certificate: HTTPS with Secure __Host- cookies and HSTS from the app; plain HTTP redirected', async () => {
    const { httpPort, httpsPort } = await startHaproxy(true);
    const page = await httpsGet(httpsPort, '/login', certificate);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['strict-transport-security']), /max-age=\d+/);
    const cookies = [page.headers['set-cookie'] ?? []].flat();
    assert.ok(cookies.length > 0, 'the log-in page sets its CSRF cookie');
    for (const cookie of cookies) assert.match(cookie, /^__Host-[^;]+;.*; Secure/i);

    const redirect = await httpGet(httpPort, '/login?next=%2F');
    assert.equal(redirect.status, 301);
    // The same host name, on HTTPS's own port, with the path and query.
    assert.equal(redirect.headers.location, 'https://127.0.0.1/login?next=%2F');
  });

  it('without one: plain HTTP as before, and a client cannot claim HTTPS with X-Forwarded-Proto', async () => {
    const { httpPort } = await startHaproxy(false);
    const page = await httpGet(httpPort, '/login', { 'x-forwarded-proto': 'https' });
    assert.equal(page.status, 200);
    assert.equal(page.headers['strict-transport-security'], undefined);
    const cookies = [page.headers['set-cookie'] ?? []].flat();
    assert.ok(cookies.length > 0);
    for (const cookie of cookies) {
      assert.doesNotMatch(cookie, /^__Host-/);
      assert.doesNotMatch(cookie, /; Secure/i);
    }
  });
});
