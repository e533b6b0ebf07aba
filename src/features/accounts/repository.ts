// SQL for users, sessions, API tokens, setup codes and attempt throttling.
import type { Database, Queryable } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/errors.ts';

export interface User {
  id: number;
  username: string;
  isAdmin: boolean;
  isDisabled: boolean;
  createdAt: Date;
  /** Their Inbox: the list of /api/todos and of the page at /. Every account has one (made with it, by a trigger). */
  inboxId: number;
}

export interface UserWithPassword extends User {
  passwordHash: string;
}

function userColumns(table = 'users'): string {
  return `${table}.id, ${table}.username, ${table}.is_admin AS "isAdmin", ${table}.is_disabled AS "isDisabled", ${table}.created_at AS "createdAt",
    (SELECT id FROM lists WHERE owner_id = ${table}.id AND is_inbox) AS "inboxId"`;
}
const USER_COLUMNS = userColumns();

export class UsernameTakenError extends Error {
  constructor(username: string) {
    super(`The username "${username}" is taken.`);
    this.name = 'UsernameTakenError';
  }
}

export class LastAdminError extends Error {
  constructor() {
    super('At least one enabled admin must remain.');
    this.name = 'LastAdminError';
  }
}

/**
 * Throws LastAdminError when taking admin powers from `userId` would leave no
 * enabled admin. The table lock makes two admins demoting each other at the
 * same moment take turns, so the second one sees the first one's change.
 */
async function ensureAnotherAdmin(tx: Queryable, userId: number): Promise<void> {
  await tx.query('LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE');
  const [row] = await tx.query<{ target: boolean; others: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND is_admin AND NOT is_disabled) AS target,
            EXISTS (SELECT 1 FROM users WHERE id <> $1 AND is_admin AND NOT is_disabled) AS others`,
    [userId],
  );
  if (row?.target && !row.others) throw new LastAdminError();
}

export class InvalidSetupCodeError extends Error {
  constructor() {
    super('That is not the setup code, or it was used already.');
    this.name = 'InvalidSetupCodeError';
  }
}

/** SQL: whether an enabled admin exists. */
const ENABLED_ADMIN_EXISTS = 'EXISTS (SELECT 1 FROM users WHERE is_admin AND NOT is_disabled)';

export const usersRepository = {
  /**
   * Creates a user, an admin only when asked (`admin`, for createsuperuser)
   * or when `setupCodeHash` names a live setup code while no admin exists
   * (the code is used up; otherwise InvalidSetupCodeError and nothing is
   * made). Creating an admin deletes every setup code, and the first admin
   * ever receives the todos taken over from the old app.
   */
  async create(
    db: Database,
    input: { username: string; passwordHash: string; admin?: boolean; setupCodeHash?: string },
  ): Promise<User> {
    try {
      return await db.transaction(async (tx) => {
        // Serialises sign-ups and admin changes, so two codes redeemed at once
        // (through two replicas) cannot both find "no admin yet".
        await tx.query('LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE');
        let isAdmin = input.admin === true;
        if (input.setupCodeHash !== undefined) {
          const redeemed = await tx.query(
            `DELETE FROM setup_codes WHERE code_hash = $1 AND NOT ${ENABLED_ADMIN_EXISTS} RETURNING code_hash`,
            [input.setupCodeHash],
          );
          if (redeemed.length === 0) throw new InvalidSetupCodeError();
          isAdmin = true;
        }
        const [inserted] = await tx.query<{ id: number }>(
          'INSERT INTO users (username, password_hash, is_admin) VALUES ($1, $2, $3) RETURNING id',
          [input.username, input.passwordHash, isAdmin],
        );
        // Read once the statement's triggers (the Inbox) have run.
        const [user] = await tx.query<User>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [inserted?.id]);
        if (!user) throw new Error('INSERT … RETURNING returned no row');
        if (isAdmin) {
          await tx.query('DELETE FROM setup_codes');
          const [firstAdmin] = await tx.query<{ id: number }>(
            'SELECT id FROM users WHERE is_admin ORDER BY id LIMIT 1',
          );
          if (firstAdmin?.id === user.id)
            await tx.query(
              'UPDATE todos SET list_id = (SELECT id FROM lists WHERE owner_id = $1 AND is_inbox) WHERE list_id IS NULL',
              [user.id],
            );
        }
        return user;
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new UsernameTakenError(input.username);
      throw error;
    }
  },

  async adminExists(db: Queryable): Promise<boolean> {
    const [row] = await db.query<{ exists: boolean }>(`SELECT ${ENABLED_ADMIN_EXISTS} AS exists`);
    return row?.exists === true;
  },

  async findByUsername(db: Queryable, username: string): Promise<UserWithPassword | undefined> {
    const [user] = await db.query<UserWithPassword>(
      `SELECT ${USER_COLUMNS}, password_hash AS "passwordHash" FROM users WHERE lower(username) = lower($1)`,
      [username],
    );
    return user;
  },

  async findWithPassword(db: Queryable, id: number): Promise<UserWithPassword | undefined> {
    const [user] = await db.query<UserWithPassword>(
      `SELECT ${USER_COLUMNS}, password_hash AS "passwordHash" FROM users WHERE id = $1`,
      [id],
    );
    return user;
  },

  /** Every user, with the lists they own and the todos in those lists. */
  async listWithTodoCounts(db: Queryable): Promise<(User & { todoCount: number; listCount: number })[]> {
    return db.query(
      `SELECT ${userColumns('u')}, count(t.id)::int AS "todoCount", count(DISTINCT l.id)::int AS "listCount"
       FROM users u LEFT JOIN lists l ON l.owner_id = u.id LEFT JOIN todos t ON t.list_id = l.id
       GROUP BY u.id ORDER BY lower(u.username)`,
    );
  },

  async setPassword(db: Database, id: number, passwordHash: string): Promise<void> {
    await db.transaction(async (tx) => {
      await tx.query('UPDATE users SET password_hash = $2 WHERE id = $1', [id, passwordHash]);
      await tx.query('DELETE FROM sessions WHERE user_id = $1', [id]);
    });
  },

  /** Disabling also ends every session of the user. Refuses to disable the last enabled admin. */
  async setDisabled(db: Database, id: number, disabled: boolean): Promise<boolean> {
    return db.transaction(async (tx) => {
      if (disabled) await ensureAnotherAdmin(tx, id);
      const rows = await tx.query('UPDATE users SET is_disabled = $2 WHERE id = $1 RETURNING id', [id, disabled]);
      if (disabled) await tx.query('DELETE FROM sessions WHERE user_id = $1', [id]);
      return rows.length > 0;
    });
  },

  /** Refuses to revoke the rights of the last enabled admin. */
  async setAdmin(db: Database, id: number, admin: boolean): Promise<boolean> {
    return db.transaction(async (tx) => {
      if (!admin) await ensureAnotherAdmin(tx, id);
      const rows = await tx.query('UPDATE users SET is_admin = $2 WHERE id = $1 RETURNING id', [id, admin]);
      return rows.length > 0;
    });
  },

  /** Deletes the user; their todos, sessions and tokens go with them (ON DELETE CASCADE). */
  async delete(db: Queryable, id: number): Promise<boolean> {
    const rows = await db.query('DELETE FROM users WHERE id = $1 RETURNING id', [id]);
    return rows.length > 0;
  },

  /** Puts the todos taken over from the old app (and any still without a list) into this user's Inbox. */
  async assignLegacyTodos(db: Queryable, userId: number): Promise<number> {
    const rows = await db.query(
      'UPDATE todos SET list_id = (SELECT id FROM lists WHERE owner_id = $1 AND is_inbox) WHERE legacy OR list_id IS NULL RETURNING id',
      [userId],
    );
    return rows.length;
  },
};

/**
 * SQL: the sessions and tokens that still let someone in, joined to their
 * user (`u`): what the auth lookups and the event streams' checks both ask.
 */
const LIVE_SESSIONS = 'sessions s JOIN users u ON u.id = s.user_id WHERE s.expires_at > now() AND NOT u.is_disabled';
const LIVE_TOKENS = 'api_tokens t JOIN users u ON u.id = t.user_id WHERE NOT u.is_disabled';

export const sessionsRepository = {
  /** Creates a session, clearing out expired ones on the way (logins are rare enough). */
  async create(db: Queryable, idHash: string, userId: number, ttlDays: number): Promise<void> {
    await db.query('DELETE FROM sessions WHERE expires_at <= now()');
    await db.query(
      `INSERT INTO sessions (id_hash, user_id, expires_at) VALUES ($1, $2, now() + make_interval(days => $3))`,
      [idHash, userId, ttlDays],
    );
  },

  /** The active user behind a session, if the session is live and the user enabled. */
  async findUser(db: Queryable, idHash: string): Promise<User | undefined> {
    const [user] = await db.query<User>(`SELECT ${userColumns('u')} FROM ${LIVE_SESSIONS} AND s.id_hash = $1`, [
      idHash,
    ]);
    return user;
  },

  async delete(db: Queryable, idHash: string): Promise<void> {
    await db.query('DELETE FROM sessions WHERE id_hash = $1', [idHash]);
  },
};

/**
 * Of the credentials given, as auth.ts keys them (`s:` and the keyed hash of
 * a session id, `t:` and that of an API token), those still good: the
 * session live or the token kept, and the user enabled. What an open event
 * stream asks now and then, and after a log-out, a password change, a token
 * revoked or a user disabled anywhere (features/events/feed.ts).
 */
export async function credentialsStillGood(db: Queryable, credentials: Iterable<string>): Promise<Set<string>> {
  const sessions: string[] = [];
  const tokens: string[] = [];
  for (const credential of credentials) {
    if (credential.startsWith('s:')) sessions.push(credential.slice(2));
    else if (credential.startsWith('t:')) tokens.push(credential.slice(2));
  }
  if (sessions.length === 0 && tokens.length === 0) return new Set();
  const rows = await db.query<{ credential: string }>(
    `SELECT 's:' || s.id_hash AS credential FROM ${LIVE_SESSIONS} AND s.id_hash = ANY($1::text[])
     UNION ALL
     SELECT 't:' || t.token_hash FROM ${LIVE_TOKENS} AND t.token_hash = ANY($2::text[])`,
    [sessions, tokens],
  );
  return new Set(rows.map((row) => row.credential));
}

export interface ApiToken {
  id: number;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export const tokensRepository = {
  async create(db: Queryable, userId: number, name: string, tokenHash: string): Promise<ApiToken> {
    const [token] = await db.query<ApiToken>(
      `INSERT INTO api_tokens (user_id, name, token_hash) VALUES ($1, $2, $3)
       RETURNING id, name, created_at AS "createdAt", last_used_at AS "lastUsedAt"`,
      [userId, name, tokenHash],
    );
    if (!token) throw new Error('INSERT … RETURNING returned no row');
    return token;
  },

  async listForUser(db: Queryable, userId: number): Promise<ApiToken[]> {
    return db.query<ApiToken>(
      `SELECT id, name, created_at AS "createdAt", last_used_at AS "lastUsedAt" FROM api_tokens WHERE user_id = $1 ORDER BY id`,
      [userId],
    );
  },

  async revokeForUser(db: Queryable, userId: number, id: number): Promise<boolean> {
    const rows = await db.query('DELETE FROM api_tokens WHERE id = $1 AND user_id = $2 RETURNING id', [id, userId]);
    return rows.length > 0;
  },

  /** The enabled user owning this token; records when it was last used (at most once a minute). */
  async findUser(db: Queryable, tokenHash: string): Promise<User | undefined> {
    const [user] = await db.query<User>(
      // Repeating it only refreshes last_used_at again, so a failover may retry it.
      `/* repeatable */ WITH used AS (
         UPDATE api_tokens SET last_used_at = now()
         WHERE token_hash = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
       )
       SELECT ${userColumns('u')} FROM ${LIVE_TOKENS} AND t.token_hash = $1`,
      [tokenHash],
    );
    return user;
  },
};

export const setupCodesRepository = {
  /**
   * Keeps a setup code's hash unless an enabled admin exists; true when kept.
   * An admin created at the same moment may miss it when deleting the codes:
   * harmless, since redeeming one also requires that no admin exists.
   */
  async addWhileNoAdmin(db: Queryable, codeHash: string): Promise<boolean> {
    const rows = await db.query(
      `INSERT INTO setup_codes (code_hash) SELECT $1 WHERE NOT ${ENABLED_ADMIN_EXISTS} RETURNING code_hash`,
      [codeHash],
    );
    return rows.length > 0;
  },
};

export interface RateLimit {
  key: string;
  /** Attempts allowed in the window. */
  limit: number;
}

/**
 * Attempt counters in fixed windows (table rate_limits), shared by every
 * replica. An attempt is counted and checked in one statement, before any
 * password is hashed: under a burst of N at once the counter still hands out
 * each number once, so at most `limit` of them go ahead.
 */
export const rateLimits = {
  /**
   * Counts an attempt against every key; 0 when it is within every limit,
   * otherwise the seconds until the fullest window ends (the attempt is then
   * taken back, so one address held back cannot push an account's shared
   * counter up to its ceiling and lock the owner out).
   */
  async hit(db: Queryable, limits: RateLimit[], windowSeconds: number): Promise<number> {
    // Sorted, so two statements that share keys lock their rows in the same order.
    const keys = limits.map((entry) => entry.key).sort();
    const rows = await db.query<{ key: string; hits: number; remaining: number }>(
      `WITH expired AS (DELETE FROM rate_limits WHERE window_ends_at <= now() AND key <> ALL($1::text[]))
       INSERT INTO rate_limits AS r (key, hits, window_ends_at)
       SELECT key, 1, now() + make_interval(secs => $2) FROM unnest($1::text[]) AS key ORDER BY key
       ON CONFLICT (key) DO UPDATE SET
         hits = CASE WHEN r.window_ends_at <= now() THEN 1 ELSE r.hits + 1 END,
         window_ends_at = CASE WHEN r.window_ends_at <= now() THEN excluded.window_ends_at ELSE r.window_ends_at END
       RETURNING key, hits, ceil(extract(epoch FROM window_ends_at - now()))::int AS remaining`,
      [keys, windowSeconds],
    );
    let wait = 0;
    for (const row of rows) {
      const limit = limits.find((entry) => entry.key === row.key)?.limit ?? Infinity;
      if (row.hits > limit) wait = Math.max(wait, row.remaining, 1);
    }
    if (wait > 0) await rateLimits.takeBack(db, keys);
    return wait;
  },

  /** Takes one counted attempt back from each key (a refused attempt, or a right password). */
  async takeBack(db: Queryable, keys: string[]): Promise<void> {
    await db.query(
      'UPDATE rate_limits SET hits = hits - 1 WHERE key = ANY($1::text[]) AND hits > 0 AND window_ends_at > now()',
      [[...keys].sort()],
    );
  },

  /** Forgets these counters. */
  async reset(db: Queryable, keys: string[]): Promise<void> {
    await db.query('DELETE FROM rate_limits WHERE key = ANY($1::text[])', [keys]);
  },
};
