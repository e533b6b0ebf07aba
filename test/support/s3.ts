// A real S3-compatible object store for tests: s3rver (from node_modules) in a
// child process on 127.0.0.1, a free port below 32768, a temp dir and one
// bucket. It is stopped by its pid: by stop(), or by the exit hook below if
// the test process ends first.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pickFreePort } from './ports.ts';

const S3RVER = fileURLToPath(new URL('../../node_modules/s3rver/bin/s3rver.js', import.meta.url));

/** s3rver accepts any request signed with these; the AWS tools read them from the environment. */
export const S3RVER_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_DEFAULT_REGION: 'us-east-1',
};

export interface S3Server {
  /** http://127.0.0.1:PORT: an IP endpoint, so clients address buckets by path. */
  endpoint: string;
  bucket: string;
  pid: number;
  /** Stops the server (SIGTERM by pid, SIGKILL after 5 s) and removes its files. Safe to call twice. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function listening(endpoint: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`s3rver exited with ${child.exitCode}:\n${output()}`);
    // Any HTTP answer (an unsigned request is refused) means it is up.
    if (
      await fetch(endpoint).then(
        () => true,
        () => false,
      )
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`s3rver did not answer on ${endpoint} within 15 s:\n${output()}`);
}

export async function startS3Server(bucket = 'backups'): Promise<S3Server> {
  if (!existsSync(S3RVER))
    throw new Error(`s3rver is not installed (${S3RVER} is missing): it is a devDependency, run "npm install".`);
  const dir = await mkdtemp(path.join(tmpdir(), 'todoapp-s3-'));
  for (let attempt = 1; ; attempt++) {
    const port = await pickFreePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const args = [S3RVER, '-d', dir, '-a', '127.0.0.1', '-p', String(port), '--silent', '--configure-bucket', bucket];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    void exited.then(() => running.delete(child));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
    };
    try {
      await listening(endpoint, child, () => output);
    } catch (error) {
      await stop();
      // Another process may take the port between the probe and the bind: try another.
      if (/EADDRINUSE/.test(output) && attempt < 5) continue;
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    let stopped = false;
    return {
      endpoint,
      bucket,
      pid: child.pid ?? 0,
      async stop() {
        if (stopped) return;
        stopped = true;
        await stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}
