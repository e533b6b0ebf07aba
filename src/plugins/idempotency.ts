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
import { isUniqueViolation } from '../db/errors.ts';
import { retryWhileUnavailable } from '../db/retry.ts';
import type { Statement } from '../db/sql.ts';
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

interface StoredOutcome {
  fingerprint: string;
  statusCode: number;
  headers: string;
  body: string | null;
}

/** The primary key of idempotency_keys: the only unique index a recorded statement can run into. */
const KEY_CONSTRAINT = 'idempotency_keys_pkey';

/**
 * The change, and its idempotency record made from what it returned, as one
 * statement. A key used before makes the record's INSERT fail, and with it the
 * whole statement (the change too); a concurrent repeat waits on the key's
 * index entry until the first statement has committed or failed.
 */
function recorded(change: Statement, ownerId: number, key: string, fingerprint: string, status: number): Statement {
  const n = change.params.length;
  return {
    text: `WITH changed AS (${change.text}),
recorded AS (
  INSERT INTO idempotency_keys (owner_id, key, fingerprint, status_code, headers, body)
  SELECT $${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, CASE WHEN location IS NULL THEN '{}' ELSE json_build_object('location', location)::text END, body FROM changed
  RETURNING headers, body)
SELECT headers, body FROM recorded`,
    params: [...change.params, ownerId, key, fingerprint, status],
  };
}

/** Keys live a day: far longer than any client retries a request. */
const KEY_LIFETIME = '1 day';
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
/** Form fields that are not part of what the request asks for. */
const NOT_THE_REQUEST = new Set(['_csrf', '_idempotency']);

export const idempotencyRepository = {
  /** Claims the key; false when it was claimed before (committed, or in flight until that transaction ends). */
  async claim(tx: Queryable, ownerId: number, key: string, fingerprint: string): Promise<boolean> {
    const rows = await tx.query(
      'INSERT INTO idempotency_keys (owner_id, key, fingerprint) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1',
      [ownerId, key, fingerprint],
    );
    return rows.length === 1;
  },

  async find(tx: Queryable, ownerId: number, key: string): Promise<StoredOutcome | undefined> {
    const [row] = await tx.query<StoredOutcome>(
      'SELECT fingerprint, status_code AS "statusCode", headers, body FROM idempotency_keys WHERE owner_id = $1 AND key = $2',
      [ownerId, key],
    );
    return row;
  },

  async settle(tx: Queryable, ownerId: number, key: string, outcome: Omit<StoredOutcome, 'fingerprint'>): Promise<void> {
    await tx.query('UPDATE idempotency_keys SET status_code = $3, headers = $4, body = $5 WHERE owner_id = $1 AND key = $2', [
      ownerId,
      key,
      outcome.statusCode,
      outcome.headers,
      outcome.body,
    ]);
  },

  async deleteExpired(db: Queryable): Promise<number> {
    const rows = await db.query(`DELETE FROM idempotency_keys WHERE created_at < now() - interval '${KEY_LIFETIME}' RETURNING 1`);
    return rows.length;
  },
};

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
    throw new HttpError(400, 'Invalid Idempotency-Key', [{ field: 'Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' }]);
  }
  return key === undefined || typeof header === 'string' ? key : `form:${key}:${fingerprint}`;
}

/** What the request asks for: a repeat of a key must ask for the same. */
function fingerprintOf(request: FastifyRequest): string {
  const body = request.body && typeof request.body === 'object' ? Object.entries(request.body).filter(([name]) => !NOT_THE_REQUEST.has(name)) : request.body;
  return createHash('sha256').update(`${request.method} ${request.url}\n${JSON.stringify(body ?? null)}`).digest('base64url');
}

/** Rolls back the transaction of a request whose key was claimed before: its response is replayed instead. */
class Repeated extends Error {}

function send(reply: FastifyReply, stored: StoredOutcome): void {
  reply.code(stored.statusCode).headers(JSON.parse(stored.headers) as Record<string, string>);
  if (stored.body === null) void reply.send();
  else void reply.type('application/json; charset=utf-8').send(stored.body);
}

export function idempotentWrites(db: Database, retryBudgetMs: number): WriteOnce {
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

  const writeOnce = async (request: FastifyRequest, reply: FastifyReply, work: (tx: Queryable) => Promise<WriteOutcome>) => {
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
    const written = await retryWhileUnavailable(() => attempt().catch((error: unknown) => (error instanceof Repeated ? replay(ownerId, key) : Promise.reject(error))), retryBudgetMs);
    answer(reply, written, fingerprint);
  };

  const statement = async (request: FastifyRequest, reply: FastifyReply, change: Statement, status: number): Promise<boolean> => {
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
