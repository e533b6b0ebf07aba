// Runs the real `todoapp` command in child processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { pickFreePort } from './ports.ts';

const BIN = fileURLToPath(new URL('../../bin/todoapp.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  // Only what the test names, so the developer's own settings never leak in.
  return { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', ...env };
}

export async function runCli(args: string[], env: Record<string, string>, input?: string): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], { env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  child.stdin.end(input ?? '');
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

export interface CliServer {
  baseUrl: string;
  /** The metrics listener (METRICS_PORT), e.g. http://127.0.0.1:40123 — fetch `${metricsUrl}/metrics`. */
  metricsUrl: string;
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited(): Promise<number | null>;
  /** Sends the signal (unless it has exited already) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `todoapp serve` and resolves once it listens (or rejects with its output if it exits). */
export async function startCliServer(env: Record<string, string>): Promise<CliServer> {
  const port = await pickFreePort();
  const host = env.HOST ?? '127.0.0.1';
  // A port of its own for each server's metrics too, so that servers side by side never meet on the default.
  const metricsPort = env.METRICS_PORT ?? String(await pickFreePort());
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: childEnv({ PORT: String(port), METRICS_PORT: metricsPort, HOST: host, ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = once(child, 'exit') as Promise<[number | null]>;
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk;
      if (output.includes('todoapp is listening')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(([code]) => reject(new Error(`todoapp serve exited with ${code} before listening:\n${output}`)));
  });
  return {
    baseUrl: `http://${host}:${port}`,
    metricsUrl: `http://${host}:${metricsPort}`,
    child,
    output: () => output,
    exited: async () => (await exited)[0],
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      const [code] = await exited;
      return code;
    },
  };
}
