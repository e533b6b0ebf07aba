// One request as wrk sends it, to see what the app answers (raw bytes, still
// compressed), and the app's own request counters from /metrics (on the
// metrics listener, METRICS_PORT, not the app's port).
import http from 'node:http';
import type { CapturedResponse } from './bare-server.ts';

/** Headers that belong to one connection or one moment, not to the response. */
const PER_CONNECTION = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length']);

export interface RawResponse extends CapturedResponse {
  body: Buffer;
}

export function rawRequest(
  url: string,
  options: { method: string; headers: Record<string, string>; body?: string },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      { method: options.method, headers: options.headers, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const body = Buffer.concat(chunks);
          const headers = Object.fromEntries(
            Object.entries(response.headers)
              .filter(([name, value]) => !PER_CONNECTION.has(name) && value !== undefined)
              .map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : String(value)]),
          );
          resolve({ status: response.statusCode ?? 0, headers, body, bodyBase64: body.toString('base64') });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/** `METHOD route status` → how many requests the app has answered so (todoapp_http_requests_total). */
export async function requestCounts(metricsUrl: string): Promise<Map<string, number>> {
  const response = await rawRequest(`${metricsUrl}/metrics`, { method: 'GET', headers: {} });
  if (response.status !== 200) throw new Error(`${metricsUrl}/metrics answered ${response.status}, not the metrics`);
  const counts = new Map<string, number>();
  for (const match of response.body.toString('utf8').matchAll(/^todoapp_http_requests_total\{([^}]*)\} (\d+)/gm)) {
    const labels = Object.fromEntries(
      [...(match[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((label) => [label[1], label[2]]),
    );
    counts.set(`${labels.method} ${labels.route} ${labels.status_code}`, Number(match[2]));
  }
  return counts;
}

/** Responses of one method and route between two snapshots, by status. */
export function countsBetween(
  before: Map<string, number>,
  after: Map<string, number>,
  method: string,
  route: string,
): Map<number, number> {
  const byStatus = new Map<number, number>();
  for (const [key, count] of after) {
    const [keyMethod, keyRoute, status] = key.split(' ');
    if (keyMethod !== method || keyRoute !== route) continue;
    const delta = count - (before.get(key) ?? 0);
    if (delta > 0) byStatus.set(Number(status), delta);
  }
  return byStatus;
}
