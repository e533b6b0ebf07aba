// SQL for lists and their members. Who may do what is access.ts's; every
// function here takes the person it acts for and finds only what they may see.
import type { Queryable } from '../../db/database.ts';
import { readableListIds, roleIn, type Role } from './access.ts';

export interface ListRecord {
  id: number;
  uid: string;
  name: string;
  position: number;
  isInbox: boolean;
  archived: boolean;
  /** The owner's username. */
  owner: string;
  ownerId: number;
  /** The person's role in it. */
  role: Role;
  activeCount: number;
}

export interface Member {
  username: string;
  role: 'editor' | 'viewer';
}

export interface ListChanges {
  name?: string;
  position?: number;
  archived?: boolean;
}

/** The columns of a ListRecord, for list `l` seen by person `user` (SQL). */
function listColumns(user: string): string {
  return `l.id, l.uid::text AS uid, l.name, l.position, l.is_inbox AS "isInbox", l.archived_at IS NOT NULL AS archived,
    u.username AS owner, l.owner_id AS "ownerId", ${roleIn('l', user)} AS role,
    (SELECT count(*) FROM todos t WHERE t.list_id = l.id AND NOT t.completed)::int AS "activeCount"`;
}

/** The person's own lists first (the Inbox leading), by position; then those shared with them. */
const ORDER = `(l.owner_id <> $1), NOT l.is_inbox, l.position, l.id`;

export class ListRuleError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'ListRuleError';
  }
}

export const listsRepository = {
  /** Every list the person may see, with their role in it. */
  async visibleTo(db: Queryable, userId: number): Promise<ListRecord[]> {
    return db.query<ListRecord>(
      `SELECT ${listColumns('$1')} FROM lists l JOIN users u ON u.id = l.owner_id
       WHERE l.id IN (${readableListIds('$1')}) ORDER BY ${ORDER}`,
      [userId],
    );
  },

  /**
   * Lists by id, whoever may see them, with no role: for the events feed only,
   * which sends each to the people access.ts says may see it.
   */
  async anyForFeed(db: Queryable, listIds: number[]): Promise<Omit<ListRecord, 'role'>[]> {
    return db.query(
      `SELECT ${listColumns('NULL::integer')} FROM lists l JOIN users u ON u.id = l.owner_id WHERE l.id = ANY($1::int[])`,
      [listIds],
    );
  },

  /** One list the person may see; undefined for any other (a stranger cannot tell a list from a missing one). */
  async get(db: Queryable, userId: number, listId: number): Promise<ListRecord | undefined> {
    const [list] = await db.query<ListRecord>(
      `SELECT ${listColumns('$1')} FROM lists l JOIN users u ON u.id = l.owner_id
       WHERE l.id = $2 AND l.id IN (${readableListIds('$1')})`,
      [userId, listId],
    );
    return list;
  },

  /** A new list of the person's, after their others. */
  async create(db: Queryable, userId: number, name: string): Promise<ListRecord> {
    const [row] = await db.query<{ id: number }>(
      `INSERT INTO lists (owner_id, name, position)
       VALUES ($1, $2, (SELECT coalesce(max(position), 0) + 1 FROM lists WHERE owner_id = $1)) RETURNING id`,
      [userId, name],
    );
    const list = row && (await this.get(db, userId, row.id));
    if (!list) throw new Error('INSERT … RETURNING returned no row');
    return list;
  },

  /** Renames, moves or archives a list of the person's own; undefined when it is not theirs. */
  async update(db: Queryable, userId: number, listId: number, changes: ListChanges): Promise<ListRecord | undefined> {
    const [list] = await db.query<{ id: number; isInbox: boolean }>(
      'SELECT id, is_inbox AS "isInbox" FROM lists WHERE id = $1 AND owner_id = $2 FOR UPDATE',
      [listId, userId],
    );
    if (!list) return undefined;
    if (list.isInbox && changes.archived === true) throw new ListRuleError('archived', 'The Inbox cannot be archived');
    const assignments: string[] = [];
    const params: unknown[] = [listId];
    if (changes.name !== undefined) {
      params.push(changes.name);
      assignments.push(`name = $${params.length}`);
    }
    if (changes.position !== undefined) {
      params.push(changes.position);
      assignments.push(`position = $${params.length}`);
    }
    if (changes.archived !== undefined)
      assignments.push(changes.archived ? 'archived_at = coalesce(archived_at, now())' : 'archived_at = NULL');
    if (assignments.length > 0)
      await db.query(`UPDATE lists SET ${assignments.join(', ')}, updated_at = now() WHERE id = $1`, params);
    return this.get(db, userId, listId);
  },

  /**
   * Moves one of the person's own lists a place up or down among their other
   * lists in the column (not archived, the Inbox always first), renumbering
   * those 1, 2, 3… so ties never make a move do nothing. False when it is not
   * theirs, or not such a list; at either end it stays where it is.
   */
  async move(db: Queryable, userId: number, listId: number, direction: 'up' | 'down'): Promise<boolean> {
    const owned = await db.query<{ id: number; position: number; isInbox: boolean; archived: boolean }>(
      `SELECT id, position, is_inbox AS "isInbox", archived_at IS NOT NULL AS archived FROM lists WHERE owner_id = $1
       ORDER BY position, id FOR UPDATE`,
      [userId],
    );
    const list = owned.find((each) => each.id === listId);
    if (!list) return false;
    if (list.isInbox) throw new ListRuleError('id', 'The Inbox is always first');
    if (list.archived) throw new ListRuleError('archived', 'An archived list is not in the column: unarchive it first');
    const lists = owned.filter((each) => !each.isInbox && !each.archived);
    const from = lists.indexOf(list);
    const to = direction === 'up' ? from - 1 : from + 1;
    const moved = lists[from];
    if (to < 0 || to >= lists.length || !moved) return true;
    lists.splice(from, 1);
    lists.splice(to, 0, moved);
    for (const [index, list] of lists.entries())
      if (list.position !== index + 1)
        await db.query('UPDATE lists SET position = $2, updated_at = now() WHERE id = $1', [list.id, index + 1]);
    return true;
  },

  /** Deletes a list of the person's own with its todos; false when it is not theirs. The Inbox stays. */
  async delete(db: Queryable, userId: number, listId: number): Promise<boolean> {
    const [list] = await db.query<{ isInbox: boolean }>(
      'SELECT is_inbox AS "isInbox" FROM lists WHERE id = $1 AND owner_id = $2',
      [listId, userId],
    );
    if (!list) return false;
    if (list.isInbox) throw new ListRuleError('id', 'The Inbox cannot be deleted');
    await db.query('DELETE FROM lists WHERE id = $1 AND owner_id = $2', [listId, userId]);
    return true;
  },

  /** How many todos a list holds (what its deletion takes with it). */
  async todoCount(db: Queryable, listId: number): Promise<number> {
    const [row] = await db.query<{ count: number }>('SELECT count(*)::int AS count FROM todos WHERE list_id = $1', [
      listId,
    ]);
    return row?.count ?? 0;
  },

  /** The people a list is shared with (its owner is not among them). */
  async members(db: Queryable, listId: number): Promise<Member[]> {
    return db.query<Member>(
      `SELECT u.username, m.role FROM list_members m JOIN users u ON u.id = m.user_id
       WHERE m.list_id = $1 ORDER BY lower(u.username)`,
      [listId],
    );
  },

  /**
   * Shares a list of the owner's with the account named, or changes its role.
   * Undefined when the list is not the owner's; a ListRuleError naming
   * `username` when there is no such account (or it is the owner's own).
   */
  async share(
    db: Queryable,
    ownerId: number,
    listId: number,
    username: string,
    role: Member['role'],
  ): Promise<Member | undefined> {
    const [owned] = await db.query('SELECT 1 FROM lists WHERE id = $1 AND owner_id = $2', [listId, ownerId]);
    if (!owned) return undefined;
    const [user] = await db.query<{ id: number; username: string }>(
      'SELECT id, username FROM users WHERE lower(username) = lower($1) AND NOT is_disabled',
      [username],
    );
    if (!user) throw new ListRuleError('username', `There is no account named "${username}"`);
    if (user.id === ownerId) throw new ListRuleError('username', 'The owner of a list is not one of its members');
    await db.query(
      `INSERT INTO list_members (list_id, user_id, role) VALUES ($1, $2, $3)
       ON CONFLICT (list_id, user_id) DO UPDATE SET role = excluded.role WHERE list_members.role <> excluded.role`,
      [listId, user.id, role],
    );
    return { username: user.username, role };
  },

  /**
   * Ends a member's access: by the owner (revoke), or by the member themself
   * (leave). 'not-found' when the person may not see the list, 'forbidden' when
   * they are a member taking someone else off, 'not-member' when the account
   * named is not a member.
   */
  async unshare(
    db: Queryable,
    userId: number,
    listId: number,
    username: string,
  ): Promise<'done' | 'not-found' | 'forbidden' | 'not-member'> {
    const [row] = await db.query<{ role: Role | null; memberId: number | null }>(
      `SELECT ${roleIn('l', '$2')} AS role,
              (SELECT m.user_id FROM list_members m JOIN users u ON u.id = m.user_id
               WHERE m.list_id = l.id AND lower(u.username) = lower($3)) AS "memberId"
       FROM lists l WHERE l.id = $1`,
      [listId, userId, username],
    );
    if (!row?.role) return 'not-found';
    if (row.role !== 'owner' && row.memberId !== userId) return 'forbidden';
    if (row.memberId === null) return 'not-member';
    await db.query('DELETE FROM list_members WHERE list_id = $1 AND user_id = $2', [listId, row.memberId]);
    return 'done';
  },
};
