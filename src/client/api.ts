// Calls to the JSON API from the page: the session cookie plus the CSRF token
// from <meta name="csrf-token">, and an Idempotency-Key on every change.

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

/**
 * One thing the person did, as the one API request that does it. Its
 * Idempotency-Key is made once, here: every attempt at the same action sends
 * the same key, so the server can tell a retry from a second action.
 */
export interface ApiAction {
  method: 'POST' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  idempotencyKey: string;
}

export function apiAction(method: ApiAction['method'], path: string, body?: unknown): ApiAction {
  return { method, path, body, idempotencyKey: newIdempotencyKey() };
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

/** Answers worth one more try: the server (or a proxy in front of it) was briefly unavailable. */
const RETRYABLE_STATUSES = new Set([502, 503, 504]);
const RETRY_AFTER_MS = 500;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends the action; resolves when the server has done it, throws RequestFailed
 * with a message for people otherwise. A lost connection or a 502/503/504 is
 * tried once more, with the same Idempotency-Key.
 */
export async function send(action: ApiAction): Promise<void> {
  const headers: Record<string, string> = {
    Accept: 'application/json',
    'X-CSRF-Token': csrfToken(),
    'Idempotency-Key': action.idempotencyKey,
  };
  if (action.body !== undefined) headers['Content-Type'] = 'application/json';
  const init: RequestInit = {
    method: action.method,
    headers,
    credentials: 'same-origin',
    body: action.body === undefined ? undefined : JSON.stringify(action.body),
  };
  for (let attempt = 1; ; attempt++) {
    const lastTry = attempt === 2;
    let response: Response;
    try {
      response = await fetch(action.path, init);
    } catch {
      if (lastTry) throw new RequestFailed('Could not reach the server. Check your connection and try again.');
      await pause(RETRY_AFTER_MS);
      continue;
    }
    if (response.ok) return;
    if (lastTry || !RETRYABLE_STATUSES.has(response.status)) throw new RequestFailed(await problemText(response));
    await pause(RETRY_AFTER_MS);
  }
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
  if (!main || !doc.querySelector('.with-lists'))
    throw new RequestFailed('Could not refresh the list. Please reload the page.');
  return main.innerHTML;
}
