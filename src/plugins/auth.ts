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
import { HttpError } from './errors.ts';

export interface AuthOptions {
  db: Database;
  secretKey: string;
  sessionTtlDays: number;
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
  }
  interface FastifyContextConfig {
    /** Logged-out forms (log in, sign up) that still need CSRF protection. */
    anonymousCsrf?: boolean;
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
}

function isHttps(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

function cookieOptions(request: FastifyRequest, maxAgeSeconds?: number) {
  return { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: isHttps(request), ...(maxAgeSeconds ? { maxAge: maxAgeSeconds } : {}) };
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
  const anonymousCookieName = (request: FastifyRequest) => (isHttps(request) ? `__Host-${ANONYMOUS_CSRF_COOKIE}` : ANONYMOUS_CSRF_COOKIE);
  const csrfFor = (binding: string) => hash(`csrf:${binding}`);

  app.decorateRequest('user', undefined);
  app.decorateRequest('authMethod', undefined);
  app.decorateRequest('sessionId', undefined);

  app.addHook('onRequest', async (request) => {
    if (NO_AUTH_PATHS.test(request.url)) return;
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      const token = /^Bearer ([A-Za-z0-9_-]{20,200})$/.exec(authorization)?.[1];
      const user = token === undefined ? undefined : await tokensRepository.findUser(db, hash(token));
      if (!user) throw new HttpError(401, 'Invalid or revoked API token');
      request.user = user;
      request.authMethod = 'token';
      return;
    }
    const sessionId = request.cookies[cookieName(request)];
    if (sessionId === undefined) return;
    const user = await sessionsRepository.findUser(db, hash(sessionId));
    if (!user) return;
    request.user = user;
    request.authMethod = 'session';
    request.sessionId = sessionId;
  });

  app.addHook('preHandler', async (request) => {
    // An unknown route changes nothing, and must answer 404 like any other.
    if (!UNSAFE_METHODS.has(request.method) || request.authMethod === 'token' || request.is404) return;
    if (request.authMethod !== 'session' && !request.routeOptions.config.anonymousCsrf) return;
    const binding = request.sessionId ?? request.cookies[anonymousCookieName(request)];
    const body = request.body as { _csrf?: unknown } | undefined;
    const sent = request.headers['x-csrf-token'] ?? (typeof body?._csrf === 'string' ? body._csrf : undefined);
    if (binding === undefined || typeof sent !== 'string' || !equalSecrets(sent, csrfFor(binding))) {
      throw new HttpError(403, 'Missing or invalid CSRF token; reload the page and try again');
    }
  });

  return {
    hash,
    async startSession(request, reply, userId) {
      // A new id at every login: a session id planted before login is worthless.
      if (request.sessionId) await sessionsRepository.delete(db, hash(request.sessionId));
      const sessionId = newSecret();
      await sessionsRepository.create(db, hash(sessionId), userId, sessionTtlDays);
      reply.setCookie(cookieName(request), sessionId, cookieOptions(request, sessionTtlDays * 86_400));
      request.sessionId = sessionId;
    },
    async endSession(request, reply) {
      if (request.sessionId) await sessionsRepository.delete(db, hash(request.sessionId));
      reply.clearCookie(cookieName(request), cookieOptions(request));
      request.sessionId = undefined;
      request.user = undefined;
    },
    csrfToken(request, reply) {
      if (request.sessionId) return csrfFor(request.sessionId);
      let anonymous = request.cookies[anonymousCookieName(request)];
      if (anonymous === undefined) {
        anonymous = newSecret();
        reply.setCookie(anonymousCookieName(request), anonymous, cookieOptions(request));
        request.cookies[anonymousCookieName(request)] = anonymous;
      }
      return csrfFor(anonymous);
    },
  };
}

/** For API routes: the caller, or 401. */
export function requireApiUser(request: FastifyRequest): User {
  if (!request.user) throw new HttpError(401, 'Authentication required: send a session cookie or "Authorization: Bearer <token>"');
  return request.user;
}
