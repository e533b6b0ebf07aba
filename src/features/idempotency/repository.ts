// The SQL of idempotent writes (plugins/idempotency.ts has the protocol):
// claiming a key, finding and settling its record, the one-statement form of
// a change with its record, and keeping each person's records bounded.
import type { Queryable } from '../../db/database.ts';
import type { Statement } from '../../db/sql.ts';

export interface StoredOutcome {
  fingerprint: string;
  statusCode: number;
  headers: string;
  body: string | null;
}

/** The primary key of idempotency_keys: the only unique index a recorded statement can run into. */
export const KEY_CONSTRAINT = 'idempotency_keys_pkey';

/** Keys live a day: far longer than any client retries a request. */
const KEY_LIFETIME = '1 day';

/**
 * What one person's records may hold: their newest 1,000 keys, and no more
 * than 5 MB of stored responses (with keys and headers). Older records go
 * (idempotencyRepository.trim): a repeat of such an old key is then a new
 * request. Far more than any client has requests in flight or retries.
 */
export const RECORD_BOUNDS = { keys: 1000, bytes: 5 * 1024 * 1024 };

/** What a record costs beyond its text: the row's header, the index entries. */
const RECORD_OVERHEAD_BYTES = 64;

/**
 * The change, and its idempotency record made from what it returned, as one
 * statement. A key used before makes the record's INSERT fail, and with it the
 * whole statement (the change too); a concurrent repeat waits on the key's
 * index entry until the first statement has committed or failed.
 */
export function recorded(
  change: Statement,
  ownerId: number,
  key: string,
  fingerprint: string,
  status: number,
): Statement {
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

  async settle(
    tx: Queryable,
    ownerId: number,
    key: string,
    outcome: Omit<StoredOutcome, 'fingerprint'>,
  ): Promise<void> {
    await tx.query(
      'UPDATE idempotency_keys SET status_code = $3, headers = $4, body = $5 WHERE owner_id = $1 AND key = $2',
      [ownerId, key, outcome.statusCode, outcome.headers, outcome.body],
    );
  },

  async deleteExpired(db: Queryable): Promise<number> {
    const rows = await db.query(
      `DELETE FROM idempotency_keys WHERE created_at < now() - interval '${KEY_LIFETIME}' RETURNING 1`,
    );
    return rows.length;
  },

  /**
   * Deletes the person's records beyond RECORD_BOUNDS, oldest first: those
   * past the newest `keys`, and those whose newer records already add up to
   * `bytes`. One statement, so concurrent trims of the same person agree.
   */
  async trim(db: Queryable, ownerId: number, bounds = RECORD_BOUNDS): Promise<number> {
    const rows = await db.query(
      `DELETE FROM idempotency_keys AS k USING (
  SELECT key FROM (
    SELECT key,
      row_number() OVER newest AS n,
      sum(octet_length(key) + coalesce(octet_length(headers), 0) + coalesce(octet_length(body), 0) + ${RECORD_OVERHEAD_BYTES}) OVER newest AS bytes
    FROM idempotency_keys WHERE owner_id = $1
    WINDOW newest AS (ORDER BY created_at DESC, key DESC)
  ) AS ranked WHERE n > $2 OR bytes > $3
) AS old
WHERE k.owner_id = $1 AND k.key = old.key
RETURNING 1`,
      [ownerId, bounds.keys, bounds.bytes],
    );
    return rows.length;
  },
};
