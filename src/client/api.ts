// Calls to the JSON API from the page: the session cookie plus the CSRF token
// from <meta name="csrf-token">, and a fresh Idempotency-Key on every change.

export class RequestFailed extends Error {}

function csrfToken(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? '';
}

/** A random UUID; crypto.randomUUID exists only in secure contexts (HTTPS or localhost). */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function problemText(response: Response): Promise<string> {
  if (response.status === 401) return 'Your session has ended. Please log in again.';
  try {
    const body = (await response.json()) as { error?: string; details?: { field: string; message: string }[] };
    const details = (body.details ?? []).map((detail) => `${detail.field} ${detail.message}`).join('; ');
    if (body.error) return details ? `${body.error}: ${details}.` : `${body.error}.`;
  } catch {
    // not JSON: fall through to the status line
  }
  return `The server answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}.`;
}

/** One API request; resolves to the parsed JSON (or undefined for 204), throws RequestFailed otherwise. */
export async function api(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = { Accept: 'application/json', 'X-CSRF-Token': csrfToken() };
  if (method !== 'GET') headers['Idempotency-Key'] = newIdempotencyKey();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new RequestFailed('Could not reach the server. Check your connection and try again.');
  }
  if (!response.ok) throw new RequestFailed(await problemText(response));
  return response.status === 204 ? undefined : response.json();
}

/** The server-rendered HTML of the current page's <main>. */
export async function fetchMainHtml(): Promise<string> {
  let response: Response;
  try {
    response = await fetch(location.href, { headers: { Accept: 'text/html' }, credentials: 'same-origin' });
  } catch {
    throw new RequestFailed('Could not reach the server to refresh the list.');
  }
  if (!response.ok) throw new RequestFailed(`Could not refresh the list (${response.status}).`);
  const doc = new DOMParser().parseFromString(await response.text(), 'text/html');
  const main = doc.querySelector('main');
  if (!main || !doc.querySelector('form.add')) throw new RequestFailed('Could not refresh the list. Please reload the page.');
  return main.innerHTML;
}
