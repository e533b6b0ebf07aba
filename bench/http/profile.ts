// Reads a V8 CPU profile (node --cpu-prof) and says where the time went: by
// package (or the app's own files, or Node's internals) and by function.
//
//   tsx bench/http/profile.ts <file.cpuprofile> [top]
import { readFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** `node_modules/<package>`, the app's own `dist/…` file, `node:…`, or the kind of V8 entry. */
export function ownerOf(url: string, functionName: string): string {
  if (!url) return `(${functionName || 'anonymous'})`;
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1] ?? url;
  const own = /\/(dist|src)\/(.+)$/.exec(url);
  if (own) return `app: ${own[2]}`;
  if (url.startsWith('node:')) return url;
  return url;
}

export interface ProfileSummary {
  totalMs: number;
  byOwner: [string, number][];
  byFunction: [string, number][];
}

export function summarise(profile: Profile): ProfileSummary {
  const selfMs = new Map<number, number>();
  profile.samples.forEach((id, index) =>
    selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0) / 1000),
  );
  const byOwner = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let totalMs = 0;
  for (const node of profile.nodes) {
    const ms = selfMs.get(node.id) ?? 0;
    // Waiting for I/O is not work: shares are of the time the thread was busy.
    if (ms === 0 || node.callFrame.functionName === '(idle)') continue;
    totalMs += ms;
    const { functionName, url, lineNumber } = node.callFrame;
    const owner = ownerOf(url, functionName);
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + ms);
    const name = `${functionName || '(anonymous)'} ${owner}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
  }
  const sorted = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]);
  return { totalMs, byOwner: sorted(byOwner), byFunction: sorted(byFunction) };
}

export function formatSummary(summary: ProfileSummary, top = 25): string {
  const line = ([name, ms]: [string, number]) =>
    `${((ms / summary.totalMs) * 100).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(7)} ms  ${name}`;
  return [
    `CPU profile: ${summary.totalMs.toFixed(0)} ms busy (self time; idle left out)`,
    'by package / file:',
    ...summary.byOwner.slice(0, top).map(line),
    'by function:',
    ...summary.byFunction.slice(0, top).map(line),
  ].join('\n');
}

export async function summariseFile(file: string): Promise<ProfileSummary> {
  return summarise(JSON.parse(await readFile(file, 'utf8')) as Profile);
}

const invoked = process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (invoked) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    console.error('usage: profile.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  console.log(formatSummary(await summariseFile(file), Number(top ?? 25)));
}
