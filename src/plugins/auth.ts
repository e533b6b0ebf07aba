// Who is asking: a session cookie (people, and the page's own scripts) or a
// personal API token (`Authorization: Bearer …`, programs). Sessions and
// tokens are random secrets; the database keeps only keyed hashes of them.
// CSRF: every state-changing request made with a session cookie, and the
// logged-out forms, must carry a token bound to that session.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type {} from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../db/database.ts';
import { sessionsRepository, tokensRepository, type User } from '../features/accounts/repository.ts';
import { CACHE_BOUNDS, type ByteCache } from './caches.ts';
import { HttpError } from './errors.ts';
import { isHttps } from './host-allowlist.ts';

export interface AuthOptions {
  db: Database;
  secretKey: string;
  sessionTtlDays: number;
  /** The app's cache of recent lookups (plugins/caches.ts). */
  lookups: ByteCache<User>;
  /**
   * Told once a change to users, sessions or tokens has committed here (the
   * live feed then ends the event streams whose credentials it ended, here and
   * on the other replicas).
   */
  credentialsChanged?: () => void;
}

/**
 * How long this process trusts a session or token it has looked up. Without
 * it every request asks the database who is calling, which for the API was a
 * third of the work. A change made through this process takes effect at
 * once: the code that makes it calls Auth.forgetLookups once it is committed,
 * which also tells the other replicas (a NOTIFY, features/events/feed.ts),
 * where it takes effect as the notification arrives (milliseconds). The price:
 * a change by a process that does not notify (psql, an older release), or a
 * notification lost, takes effect here up to this long later.
 */
export const AUTH_CACHE_MS = CACHE_BOUNDS.auth_lookups.ttlMs ?? 1000;

/** Users by the keyed hash of their session id or token, for AUTH_CACHE_MS, in the app's auth_lookups cache (plugins/caches.ts). */
class RecentLookups {
  readonly #entries: ByteCache<User>;
  /** Bumped by every clear, so a lookup that started before it is not remembered after it. */
  #generation = 0;

  constructor(entries: ByteCache<User>) {
    this.#entries = entries;
  }

  /** Looks `key` up with `find` unless it is remembered; remembers what is found. */
  async through(key: string, find: () => Promise<User | undefined>): Promise<User | undefined> {
    const known = this.#entries.get(key);
    if (known) return known;
    const generation = this.#generation;
    const user = await find();
    if (user && generation === this.#generation) this.#entries.set(key, user);
    return user;
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
  }
}

const SESSION_COOKIE = 'todoapp_session';
const ANONYMOUS_CSRF_COOKIE = 'todoapp_csrf';
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const NO_AUTH_PATHS = /^\/(healthz|readyz|metrics|static\/)/;

declare module 'fastify' {
  interface FastifyRequest {
    user: User | undefined;
    authMethod: 'session' | 'token' | undefined;
    /** The raw session id from the cookie, when a live session was found. */
    sessionId: string | undefined;
    /** The caller's credential as kept: `s:` or `t:` and its keyed hash (credentialsStillGood in accounts/repository.ts). */
    credential: string | undefined;
  }
  interface FastifyContextConfig {
    /** Logged-out forms (log in, sign up) that still need CSRF protection. */
    anonymousCsrf?: boolean;
    /** A route of a gated scope (requireApiCaller) that answers anyone, e.g. the OpenAPI document. */
    public?: boolean;
  }
}

/** The keyed hash under which session ids and API tokens are stored. */
export function keyedHash(secretKey: string, secret: string): string {
  return createHmac('sha256', secretKey).update(secret).digest('base64url');
}

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export interface Auth {
  hash(secret: string): string;
  startSession(request: FastifyRequest, reply: FastifyReply, userId: number): Promise<void>;
  endSession(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** The CSRF token forms and scripts must send back (sets the logged-out cookie when needed). */
  csrfToken(request: FastifyRequest, reply: FastifyReply): string;
  /**
   * Forgets every session and token this process remembers. Called by what
   * changes a user, a session or a token (log-out, a password change, a token
   * revoked, an account deleted or disabled, admin rights changed), once the
   * change is committed, so the very next request sees it; the event streams
   * it ended close (AuthOptions.credentialsChanged).
   */
  forgetLookups(): void;
  /** Forgets what this process remembers, telling no one: a change another replica told of. */
  clearLookups(): void;
}

function cookieOptions(request: FastifyRequest, maxAgeSeconds?: number) {
  return {
    path: '/',
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: isHttps(request),
    ...(maxAgeSeconds ? { maxAge: maxAgeSeconds } : {}),
  };
}

/**
 * The CSRF token as pages carry it: XORed with a fresh random pad on every
 * render (pad + masked token), so the secret never appears twice in the same
 * bytes. Compressed HTML that also reflects user input (the search box) would
 * otherwise let an attacker guess it byte by byte from response sizes (BREACH).
 */
function maskToken(token: string): string {
  const secret = Buffer.from(token, 'base64url');
  const pad = randomBytes(secret.length);
  return Buffer.concat([pad, Buffer.from(secret.map((byte, i) => byte ^ (pad[i] as number)))]).toString('base64url');
}

function unmaskToken(sent: string): string {
  const raw = Buffer.from(sent, 'base64url');
  const half = raw.length / 2;
  return Buffer.from(raw.subarray(half).map((byte, i) => byte ^ (raw[i] as number))).toString('base64url');
}

function equalSecrets(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function installAuth(app: FastifyInstance, options: AuthOptions): Auth {
  const { db, secretKey, sessionTtlDays } = options;
  const hash = (secret: string) => keyedHash(secretKey, secret);
  /** The session cookie's name: `__Host-` prefixed (and Secure) over HTTPS. */
  const cookieName = (request: FastifyRequest) => (isHttps(request) ? `__Host-${SESSION_COOKIE}` : SESSION_COOKIE);
  const anonymousCookieName = (request: FastifyRequest) =>
    isHttps(request) ? `__Host-${ANONYMOUS_CSRF_COOKIE}` : ANONYMOUS_CSRF_COOKIE;
  const csrfFor = (binding: string) => hash(`csrf:${binding}`);

  app.decorateRequest('user', undefined);
  app.decorateRequest('authMethod', undefined);
  app.decorateRequest('sessionId', undefined);
  app.decorateRequest('credential', undefined);
  const recent = new RecentLookups(options.lookups);
  const forget = () => {
    recent.clear();
    options.credentialsChanged?.();
  };

  app.addHook('onRequest', async (request) => {
    if (NO_AUTH_PATHS.test(request.url)) return;
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      const token = /^Bearer ([A-Za-z0-9_-]{20,200})$/.exec(authorization)?.[1];
      const tokenHash = token === undefined ? undefined : hash(token);
      const credential = `t:${tokenHash}`;
      const user =
        tokenHash === undefined
          ? undefined
          : await recent.through(credential, () => tokensRepository.findUser(db, tokenHash));
      if (!user) throw new HttpError(401, 'Invalid or revoked API token');
      request.user = user;
      request.authMethod = 'token';
      request.credential = credential;
      return;
    }
    const sessionId = request.cookies[cookieName(request)];
    if (sessionId === undefined) return;
    const sessionHash = hash(sessionId);
    const credential = `s:${sessionHash}`;
    const user = await recent.through(credential, () => sessionsRepository.findUser(db, sessionHash));
    if (!user) return;
    request.user = user;
    request.authMethod = 'session';
    request.sessionId = sessionId;
    request.credential = credential;
  });

  app.addHook('preHandler', async (request) => {
    // An unknown route changes nothing, and must answer 404 like any other.
    if (!UNSAFE_METHODS.has(request.method) || request.authMethod === 'token' || request.is404) return;
    if (request.authMethod !== 'session' && !request.routeOptions.config.anonymousCsrf) return;
    const binding = request.sessionId ?? request.cookies[anonymousCookieName(request)];
    const body = request.body as { _csrf?: unknown } | undefined;
    const sent = request.headers['x-csrf-token'] ?? (typeof body?._csrf === 'string' ? body._csrf : undefined);
    if (binding === undefined || typeof sent !== 'string' || !equalSecrets(unmaskToken(sent), csrfFor(binding))) {
      throw new HttpError(403, 'Missing or invalid CSRF token; reload the page and try again');
    }
  });

  return {
    hash,
    async startSession(request, reply, userId) {
      // A new id at every login: a session id planted before login is worthless.
      if (request.sessionId) {
        await sessionsRepository.delete(db, hash(request.sessionId));
        forget();
      }
      const sessionId = newSecret();
      await sessionsRepository.create(db, hash(sessionId), userId, sessionTtlDays);
      reply.setCookie(cookieName(request), sessionId, cookieOptions(request, sessionTtlDays * 86_400));
      request.sessionId = sessionId;
      request.credential = `s:${hash(sessionId)}`;
    },
    async endSession(request, reply) {
      if (request.sessionId) {
        await sessionsRepository.delete(db, hash(request.sessionId));
        forget();
      }
      reply.clearCookie(cookieName(request), cookieOptions(request));
      request.sessionId = undefined;
      request.credential = undefined;
      request.user = undefined;
    },
    csrfToken(request, reply) {
      if (request.sessionId) return maskToken(csrfFor(request.sessionId));
      let anonymous = request.cookies[anonymousCookieName(request)];
      if (anonymous === undefined) {
        anonymous = newSecret();
        reply.setCookie(anonymousCookieName(request), anonymous, cookieOptions(request));
        request.cookies[anonymousCookieName(request)] = anonymous;
      }
      return maskToken(csrfFor(anonymous));
    },
    forgetLookups: forget,
    clearLookups: () => recent.clear(),
  };
}

/**
 * The gate of the HTML pages' scope (every page and form outside /api): a
 * personal API token is for programs calling /api, never a browser session,
 * so with one nothing there runs: no log-in, sign-up or log-out, no password,
 * token or todo change, not even a page. Otherwise a stolen token would be
 * worth a password change, an unthrottled guess at the password and a
 * session cookie. A hook on the scope, so a new page cannot forget it.
 */
export async function refuseApiTokens(request: FastifyRequest): Promise<void> {
  if (request.authMethod === 'token') {
    throw new HttpError(
      403,
      'API tokens work only under /api: pages and their forms need a browser session (log in at /login)',
    );
  }
}

/** For API routes: the caller, or 401. */
/**
 * The API scope's gate (an onRequest hook on it, app.ts): every route under
 * it needs a caller, so a new route cannot forget to ask; those marked
 * `config: { public: true }` answer anyone, and unknown paths stay 404s.
 * It runs before the body is parsed or validated, so a stranger learns
 * nothing about what a route would accept.
 */
export async function requireApiCaller(request: FastifyRequest): Promise<void> {
  // A CORS preflight carries no credentials; @fastify/cors answers it.
  if (request.is404 || request.method === 'OPTIONS' || request.routeOptions.config.public === true) return;
  requireApiUser(request);
}

export function requireApiUser(request: FastifyRequest): User {
  if (!request.user)
    throw new HttpError(401, 'Authentication required: send a session cookie or "Authorization: Bearer <token>"');
  return request.user;
}
