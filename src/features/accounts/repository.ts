// SQL for users, sessions, API tokens and login throttling.
import type { Database, Queryable } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/errors.ts';

export interface User {
  id: number;
  username: string;
  isAdmin: boolean;
  isDisabled: boolean;
  createdAt: Date;
}

export interface UserWithPassword extends User {
  passwordHash: string;
}

function userColumns(table = 'users'): string {
  return `${table}.id, ${table}.username, ${table}.is_admin AS "isAdmin", ${table}.is_disabled AS "isDisabled", ${table}.created_at AS "createdAt"`;
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


export const usersRepository = {
  /**
   * Creates a user. The first user ever becomes an admin and receives the
   * todos taken over from the old app; `admin` forces admin rights.
   */
  async create(db: Database, input: { username: string; passwordHash: string; admin?: boolean }): Promise<User> {
    try {
      return await db.transaction(async (tx) => {
        // Serialises concurrent sign-ups so exactly one can be "the first".
        await tx.query('LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE');
        const [existing] = await tx.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM users) AS any');
        const isAdmin = input.admin === true || !existing?.any;
        const [user] = await tx.query<User>(
          `INSERT INTO users (username, password_hash, is_admin) VALUES ($1, $2, $3) RETURNING ${USER_COLUMNS}`,
          [input.username, input.passwordHash, isAdmin],
        );
        if (!user) throw new Error('INSERT … RETURNING returned no row');
        const [firstAdmin] = await tx.query<{ id: number }>('SELECT id FROM users WHERE is_admin ORDER BY id LIMIT 1');
        if (firstAdmin?.id === user.id) await tx.query('UPDATE todos SET owner_id = $1 WHERE owner_id IS NULL', [user.id]);
        return user;
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new UsernameTakenError(input.username);
      throw error;
    }
  },

  async findByUsername(db: Queryable, username: string): Promise<UserWithPassword | undefined> {
    const [user] = await db.query<UserWithPassword>(
      `SELECT ${USER_COLUMNS}, password_hash AS "passwordHash" FROM users WHERE lower(username) = lower($1)`,
      [username],
    );
    return user;
  },

  async findWithPassword(db: Queryable, id: number): Promise<UserWithPassword | undefined> {
    const [user] = await db.query<UserWithPassword>(`SELECT ${USER_COLUMNS}, password_hash AS "passwordHash" FROM users WHERE id = $1`, [id]);
    return user;
  },

  async listWithTodoCounts(db: Queryable): Promise<(User & { todoCount: number })[]> {
    return db.query(
      `SELECT ${userColumns('u')}, count(t.id)::int AS "todoCount"
       FROM users u LEFT JOIN todos t ON t.owner_id = u.id GROUP BY u.id ORDER BY lower(u.username)`,
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

  /** Gives the todos taken over from the old app (and any still without an owner) to this user. */
  async assignLegacyTodos(db: Queryable, userId: number): Promise<number> {
    const rows = await db.query('UPDATE todos SET owner_id = $1 WHERE legacy OR owner_id IS NULL RETURNING id', [userId]);
    return rows.length;
  },
};

export const sessionsRepository = {
  /** Creates a session, clearing out expired ones on the way (logins are rare enough). */
  async create(db: Queryable, idHash: string, userId: number, ttlDays: number): Promise<void> {
    await db.query('DELETE FROM sessions WHERE expires_at <= now()');
    await db.query(`INSERT INTO sessions (id_hash, user_id, expires_at) VALUES ($1, $2, now() + make_interval(days => $3))`, [idHash, userId, ttlDays]);
  },

  /** The active user behind a session, if the session is live and the user enabled. */
  async findUser(db: Queryable, idHash: string): Promise<User | undefined> {
    const [user] = await db.query<User>(
      `SELECT ${userColumns('u')}
       FROM sessions s JOIN users u ON u.id = s.user_id
       WHERE s.id_hash = $1 AND s.expires_at > now() AND NOT u.is_disabled`,
      [idHash],
    );
    return user;
  },

  async delete(db: Queryable, idHash: string): Promise<void> {
    await db.query('DELETE FROM sessions WHERE id_hash = $1', [idHash]);
  },

};

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
       SELECT ${userColumns('u')}
       FROM api_tokens t JOIN users u ON u.id = t.user_id
       WHERE t.token_hash = $1 AND NOT u.is_disabled`,
      [tokenHash],
    );
    return user;
  },
};

export const loginThrottle = {
  /** Seconds until another attempt is allowed for any of these keys, or 0. */
  async retryAfter(db: Queryable, keys: { key: string; limit: number }[], windowSeconds: number): Promise<number> {
    const rows = await db.query<{ key: string; failures: number; remaining: number }>(
      `SELECT key, failures, ceil(extract(epoch FROM window_started_at + make_interval(secs => $2) - now()))::int AS remaining
       FROM login_failures WHERE key = ANY($1::text[]) AND window_started_at > now() - make_interval(secs => $2)`,
      [keys.map((entry) => entry.key), windowSeconds],
    );
    let wait = 0;
    for (const row of rows) {
      const limit = keys.find((entry) => entry.key === row.key)?.limit ?? Infinity;
      if (row.failures >= limit) wait = Math.max(wait, row.remaining, 1);
    }
    return wait;
  },

  async recordFailure(db: Queryable, keys: string[], windowSeconds: number): Promise<void> {
    await db.query('DELETE FROM login_failures WHERE window_started_at <= now() - make_interval(secs => $1)', [windowSeconds]);
    await db.query(
      `INSERT INTO login_failures (key, failures, window_started_at)
       SELECT unnest($1::text[]), 1, now()
       ON CONFLICT (key) DO UPDATE SET
         failures = CASE WHEN login_failures.window_started_at <= now() - make_interval(secs => $2) THEN 1 ELSE login_failures.failures + 1 END,
         window_started_at = CASE WHEN login_failures.window_started_at <= now() - make_interval(secs => $2) THEN now() ELSE login_failures.window_started_at END`,
      [keys, windowSeconds],
    );
  },
};
