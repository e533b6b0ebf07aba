// Load from a separate process: wrk (C, one thread), so the load generator
// takes as little of the two cores from the app as possible. Each scenario is
// a Lua script; its done() prints the figures as one JSON line.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Children } from './children.ts';

export interface LoadRequest {
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  headers: Record<string, string>;
  /** A fixed body, sent with every request. */
  body?: string;
  /**
   * For requests that change from one to the next (fresh idempotency keys,
   * ids): `setup` runs once, `request` is the body of a Lua function of `n`
   * (0, 1, …) returning the request, e.g. `return wrk.format(nil, path, headers, body)`.
   * `headers` holds the headers above; `prefix` is unique to this run.
   */
  lua?: { setup?: string; request: string };
}

export interface LoadResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Socket errors and timeouts, and responses wrk itself counts as failed (status ≥ 400). */
  socketErrors: number;
  wrkStatusErrors: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  bytesPerSecond: number;
}

export function luaString(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}"`;
}

export function luaTable(record: Record<string, string>): string {
  return `{ ${Object.entries(record)
    .map(([name, value]) => `[${luaString(name)}] = ${luaString(value)}`)
    .join(', ')} }`;
}

const DONE = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests":%d,"durationUs":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

export function wrkScript(request: LoadRequest, prefix: string): string {
  const common = `wrk.method = ${luaString(request.method)}
wrk.path = ${luaString(request.path)}
wrk.headers = ${luaTable(request.headers)}
${request.body === undefined ? '' : `wrk.body = ${luaString(request.body)}`}
`;
  if (!request.lua) return common + DONE;
  return `${common}
local headers = wrk.headers
local prefix = ${luaString(prefix)}
${request.lua.setup ?? ''}
local function build(n)
${request.lua.request}
end
local count = 0
request = function()
  local r = build(count)
  count = count + 1
  return r
end
${DONE}`;
}

export interface WrkOptions {
  url: string;
  connections: number;
  seconds: number;
  /** Unique per run: idempotency keys of one run never repeat another's. */
  prefix: string;
  scriptDir: string;
}

export async function runWrk(children: Children, request: LoadRequest, options: WrkOptions): Promise<LoadResult> {
  const script = path.join(options.scriptDir, `${options.prefix}.lua`);
  await writeFile(script, wrkScript(request, options.prefix));
  const args = [
    '-t',
    '1',
    '-c',
    String(options.connections),
    '-d',
    `${options.seconds}s`,
    '--timeout',
    '10s',
    '-s',
    script,
    options.url,
  ];
  const output = await children.run('wrk', args);
  const line = output.split('\n').find((candidate) => candidate.startsWith('WRK_JSON '));
  if (!line) throw new Error(`wrk printed no figures:\n${output}`);
  const raw = JSON.parse(line.slice('WRK_JSON '.length)) as Record<string, number>;
  const figure = (name: string) => raw[name] ?? 0;
  const seconds = figure('durationUs') / 1e6;
  return {
    requests: figure('requests'),
    seconds,
    requestsPerSecond: figure('requests') / seconds,
    socketErrors: figure('connect') + figure('read') + figure('write') + figure('timeout'),
    wrkStatusErrors: figure('status'),
    p50Ms: figure('p50') / 1000,
    p90Ms: figure('p90') / 1000,
    p99Ms: figure('p99') / 1000,
    maxMs: figure('max') / 1000,
    bytesPerSecond: figure('bytes') / seconds,
  };
}
