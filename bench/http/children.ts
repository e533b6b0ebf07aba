// Every process the benchmark starts, so that an error or Ctrl-C stops them all.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';

/** Characters of a child's output kept (its last ones). */
const OUTPUT_KEPT = 1 << 20;

export interface Started {
  child: ChildProcess;
  /** What it printed so far (stdout and stderr; the last megabyte or two of it). */
  output(): string;
  /** Sends SIGTERM (SIGKILL after `graceMs`) and resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export class Children {
  private readonly running = new Set<ChildProcess>();

  /** Starts a long-running process (a server). */
  start(command: string, args: string[], options: SpawnOptions = {}): Started {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    this.running.add(child);
    // A server logging a line per request at LOG_LEVEL=info writes some 100 MB
    // in a run: keep the last of it, not all.
    let output = '';
    const keep = (chunk: Buffer) => {
      output += chunk;
      if (output.length > 2 * OUTPUT_KEPT) output = output.slice(-OUTPUT_KEPT);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = once(child, 'exit').catch(() => undefined);
    void exited.then(() => this.running.delete(child));
    return {
      child,
      output: () => output,
      stop: async (graceMs = 10_000) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      },
    };
  }

  /** Runs a command to completion; resolves with its output, rejects when it fails. */
  async run(command: string, args: string[], options: SpawnOptions = {}): Promise<string> {
    const started = this.start(command, args, options);
    const [code, signal] = (await once(started.child, 'exit')) as [number | null, NodeJS.Signals | null];
    if (code !== 0)
      throw new Error(
        `${command} ${args.join(' ')} failed (${signal ?? `exit code ${code}`}):\n${started.output().slice(-4000)}`,
      );
    return started.output();
  }

  /** Stops everything still running: SIGTERM, then SIGKILL for what ignores it. */
  async stopAll(graceMs = 5000): Promise<void> {
    const all = [...this.running];
    for (const child of all) child.kill('SIGTERM');
    const timer = setTimeout(() => all.forEach((child) => child.kill('SIGKILL')), graceMs);
    await Promise.all(
      all.map((child) =>
        child.exitCode !== null || child.signalCode !== null ? undefined : once(child, 'exit').catch(() => undefined),
      ),
    );
    clearTimeout(timer);
  }

  /** Synchronous last resort for process exit: SIGKILL whatever is left. */
  killAllNow(): void {
    for (const child of this.running) child.kill('SIGKILL');
  }
}
