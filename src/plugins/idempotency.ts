// Writes that are safe to repeat. Every change a route makes goes through
// `writeOnce`: in one transaction it claims the request's idempotency key,
// makes the change, and stores the response. A repeat of the same key — the
// client's retry (`Idempotency-Key` header, or the `_idempotency` field of a
// page form), or the server's own retry after a failover broke the connection
// before the COMMIT was acknowledged — gets the first response back and
// changes nothing twice. A concurrent repeat waits on the key's row until the
// first transaction ends, then replays it. A change that is one statement on
// one row goes through `writeOnce.statement` instead: the change and the
// key's record as one statement, one round trip.
import { createHash, randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Database, Queryable } from '../db/database.ts';
import { LRUCache } from 'lru-cache';
import { isUniqueViolation } from '../db/errors.ts';
import { retryWhileUnavailable } from '../db/retry.ts';
import type { Statement } from '../db/sql.ts';
import {
  idempotencyRepository,
  KEY_CONSTRAINT,
  recorded,
  type StoredOutcome,
} from '../features/idempotency/repository.ts';
import { HttpError } from './errors.ts';

/** What a write answers; stored with the change so a repeat answers the same. */
export interface WriteOutcome {
  status: number;
  /** Headers a repeat must carry too (Location). */
  headers?: Record<string, string>;
  /** Serialised with the route's response schema; none for 204 and redirects. */
  body?: unknown;
}

export interface WriteOnce {
  /** Makes the change and sends the response (the first one, on a repeat). */
  (request: FastifyRequest, reply: FastifyReply, work: (tx: Queryable) => Promise<WriteOutcome>): Promise<void>;
  /**
   * The same for a change that is one statement on at most one row: an
   * INSERT, UPDATE, DELETE (or SELECT) … RETURNING two text columns, `body`
   * (the response, JSON, or NULL) and `location` (its Location header, or
   * NULL). The change and its idempotency record then go to the database as
   * one statement — one round trip, no BEGIN or COMMIT — and stand or fall
   * together. Answers `status`; false, with nothing sent, when the change
   * touched no row (and the key was not used before): the caller's 404.
   */
  statement(request: FastifyRequest, reply: FastifyReply, change: Statement, status: number): Promise<boolean>;
}

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
/** Form fields that are not part of what the request asks for. */
const NOT_THE_REQUEST = new Set(['_csrf', '_idempotency']);

/**
 * A person's records are trimmed to RECORD_BOUNDS after every 50th write, or
 * sooner once their writes since the last trim stored 512 KB: between trims a
 * person has at most that much beyond the bounds, per replica. (A trim after
 * every write would cost each write a scan of the person's 1,000 records.)
 */
const TRIM_EVERY_WRITES = 50;
const TRIM_EVERY_BYTES = 512 * 1024;
/** People whose writes since their last trim are counted; one beyond is forgotten, and counts afresh. */
const COUNTED_PEOPLE = 10_000;

/**
 * The client's key, if it sent one; 400 when it is malformed. A page form's
 * key is one nonce per rendered page, shared by all its forms: what makes it a
 * form's own is what the form asks for (`fingerprint`). So the same form of
 * the same page posted twice (a double click, a resend) is one change, and
 * two different forms of one page are two.
 */
function clientKey(request: FastifyRequest, fingerprint: string): string | undefined {
  const header = request.headers['idempotency-key'];
  const field = (request.body as { _idempotency?: unknown } | null | undefined)?._idempotency;
  const key = typeof header === 'string' ? header : typeof field === 'string' && field !== '' ? field : undefined;
  if (key !== undefined && !KEY_PATTERN.test(key)) {
    throw new HttpError(400, 'Invalid Idempotency-Key', [
      { field: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' },
    ]);
  }
  return key === undefined || typeof header === 'string' ? key : `form:${key}:${fingerprint}`;
}

/** What the request asks for: a repeat of a key must ask for the same. */
function fingerprintOf(request: FastifyRequest): string {
  const body =
    request.body && typeof request.body === 'object'
      ? Object.entries(request.body).filter(([name]) => !NOT_THE_REQUEST.has(name))
      : request.body;
  return createHash('sha256')
    .update(`${request.method} ${request.url}\n${JSON.stringify(body ?? null)}`)
    .digest('base64url');
}

/** Rolls back the transaction of a request whose key was claimed before: its response is replayed instead. */
class Repeated extends Error {}

function send(reply: FastifyReply, stored: StoredOutcome): void {
  reply.code(stored.statusCode).headers(JSON.parse(stored.headers) as Record<string, string>);
  if (stored.body === null) void reply.send();
  else void reply.type('application/json; charset=utf-8').send(stored.body);
}

/** `onCommitted` is told after each write that changed something has committed (not after a replay). */
export function idempotentWrites(db: Database, retryBudgetMs: number, onCommitted: () => void = () => {}): WriteOnce {
  const sinceTrim = new LRUCache<number, { writes: number; bytes: number }>({ max: COUNTED_PEOPLE });
  /** Counts a stored record; every so often deletes the person's records beyond the bounds, after the answer has gone. */
  const counted = (request: FastifyRequest, ownerId: number, stored: StoredOutcome) => {
    const count = sinceTrim.get(ownerId) ?? { writes: 0, bytes: 0 };
    count.writes += 1;
    count.bytes += stored.headers.length + (stored.body?.length ?? 0);
    sinceTrim.set(ownerId, count);
    if (count.writes < TRIM_EVERY_WRITES && count.bytes < TRIM_EVERY_BYTES) return;
    sinceTrim.delete(ownerId);
    idempotencyRepository
      .trim(db, ownerId)
      .catch((error: unknown) => request.log.warn({ err: error }, 'could not trim idempotency records'));
  };

  /** The request's key (the client's, or one of the server's own for its retries) and what the request asks for. */
  const keyOf = (request: FastifyRequest) => {
    if (!request.user) throw new HttpError(401, 'Authentication required');
    const fingerprint = fingerprintOf(request);
    // Without a client key the server still needs one for its own retries.
    return { ownerId: request.user.id, key: clientKey(request, fingerprint) ?? `server:${randomUUID()}`, fingerprint };
  };

  const replay = async (ownerId: number, key: string): Promise<Written> => {
    const stored = await idempotencyRepository.find(db, ownerId, key);
    if (!stored) throw new HttpError(409, 'This request is being repeated too quickly; retry it');
    return { stored, replayed: true };
  };

  const writeOnce = async (
    request: FastifyRequest,
    reply: FastifyReply,
    work: (tx: Queryable) => Promise<WriteOutcome>,
  ) => {
    const { ownerId, key, fingerprint } = keyOf(request);
    const attempt = () =>
      db.transaction(async (tx): Promise<Written> => {
        // The change is sent right behind the claim, without waiting for the
        // claim's answer (one round trip instead of two; the statements still
        // run one after the other). A repeat's claim finds the key taken, after
        // waiting for the first transaction to end, and then its change is
        // rolled back with this transaction: never applied twice.
        const claimed = idempotencyRepository.claim(tx, ownerId, key, fingerprint);
        const change = work(tx);
        change.catch(() => {}); // handled below, after the claim's answer
        if (!(await claimed)) {
          await change.catch(() => {});
          throw new Repeated();
        }
        const outcome = await change;
        reply.code(outcome.status);
        const stored = {
          fingerprint,
          statusCode: outcome.status,
          headers: JSON.stringify(outcome.headers ?? {}),
          body: outcome.body === undefined ? null : (reply.serialize(outcome.body) as string),
        };
        // Not waited for: it travels with the COMMIT, and the transaction
        // fails if it does (Database.transaction).
        idempotencyRepository.settle(tx, ownerId, key, stored).catch(() => {});
        return { stored, replayed: false };
      });
    const written = await retryWhileUnavailable(
      () =>
        attempt().catch((error: unknown) => (error instanceof Repeated ? replay(ownerId, key) : Promise.reject(error))),
      retryBudgetMs,
    );
    if (!written.replayed) {
      counted(request, ownerId, written.stored);
      onCommitted();
    }
    answer(reply, written, fingerprint);
  };

  const statement = async (
    request: FastifyRequest,
    reply: FastifyReply,
    change: Statement,
    status: number,
  ): Promise<boolean> => {
    const { ownerId, key, fingerprint } = keyOf(request);
    const { text, params } = recorded(change, ownerId, key, fingerprint, status);
    const attempt = async (): Promise<Written | undefined> => {
      let rows: { headers: string; body: string | null }[];
      try {
        rows = await db.query(text, params);
      } catch (error) {
        if (isUniqueViolation(error, KEY_CONSTRAINT)) return replay(ownerId, key);
        throw error;
      }
      const [row] = rows;
      if (row) return { stored: { fingerprint, statusCode: status, ...row }, replayed: false };
      // No row changed: nothing to do, or a repeat whose first attempt removed
      // the row (a DELETE). Only the key can tell.
      const stored = await idempotencyRepository.find(db, ownerId, key);
      return stored && { stored, replayed: true };
    };
    const written = await retryWhileUnavailable(attempt, retryBudgetMs);
    if (!written) return false;
    if (!written.replayed) {
      counted(request, ownerId, written.stored);
      onCommitted();
    }
    answer(reply, written, fingerprint);
    return true;
  };

  return Object.assign(writeOnce, { statement });
}

interface Written {
  stored: StoredOutcome;
  replayed: boolean;
}

/** Sends a write's response: the stored one, for a repeat of the same request. */
function answer(reply: FastifyReply, { stored, replayed }: Written, fingerprint: string): void {
  if (replayed) {
    if (stored.fingerprint !== fingerprint) {
      throw new HttpError(422, 'This Idempotency-Key was already used for a different request', [
        { field: 'Idempotency-Key', message: 'must be new for every different request' },
      ]);
    }
    reply.header('idempotent-replayed', 'true');
  }
  send(reply, stored);
}
