// SQL of the change log (migrations/0006): reading it in order from a
// position, and pruning it. The triggers write it; nothing here does.
import type { Queryable } from '../../db/database.ts';

/**
 * A place in the log: a change's transaction id and sequence number. The
 * log is read in this order, and only up to the oldest transaction still
 * running, so everything before a position handed out is final.
 */
export interface Position {
  xid: bigint;
  seq: bigint;
}

export const START: Position = { xid: 0n, seq: 0n };

export type ChangeKind = 'todo' | 'todo-removed' | 'list' | 'list-deleted' | 'member';

export interface Change {
  position: Position;
  listId: number;
  kind: ChangeKind;
  todoId: number | null;
  todoUid: string | null;
  /** For `member`: whose access changed; for `list` and `list-deleted`: the list's owner. */
  userId: number | null;
}

interface ChangeRow extends Omit<Change, 'position'> {
  xid: string;
  seq: string;
}

/** `xid-seq`: the id of the event a change becomes (SSE `id:`, `Last-Event-ID`). */
export function formatPosition(position: Position): string {
  return `${position.xid}-${position.seq}`;
}

export function parsePosition(text: string | undefined): Position | undefined {
  const match = /^(\d{1,20})-(\d{1,20})$/.exec(text?.trim() ?? '');
  return match ? { xid: BigInt(match[1] ?? '0'), seq: BigInt(match[2] ?? '0') } : undefined;
}

export function compare(a: Position, b: Position): number {
  if (a.xid !== b.xid) return a.xid < b.xid ? -1 : 1;
  return a.seq === b.seq ? 0 : a.seq < b.seq ? -1 : 1;
}

/** Transactions older than every one still running: final, committed or not. */
const FINAL = 'xid < pg_snapshot_xmin(pg_current_snapshot())';

export const changesRepository = {
  /** The position of the newest final change (or where pruning reached, for an empty log). */
  async latest(db: Queryable): Promise<Position> {
    const [row] = await db.query<{ xid: string; seq: string }>(
      `SELECT xid::text, seq::text FROM (
         (SELECT xid, seq FROM list_changes WHERE ${FINAL} ORDER BY xid DESC, seq DESC LIMIT 1)
         UNION ALL SELECT xid, seq FROM list_changes_horizon
       ) known ORDER BY xid DESC, seq DESC LIMIT 1`,
    );
    return row ? { xid: BigInt(row.xid), seq: BigInt(row.seq) } : START;
  },

  /** Where pruning reached: changes up to here may be gone. */
  async horizon(db: Queryable): Promise<Position> {
    const [row] = await db.query<{ xid: string; seq: string }>('SELECT xid::text, seq::text FROM list_changes_horizon');
    return row ? { xid: BigInt(row.xid), seq: BigInt(row.seq) } : START;
  },

  /**
   * Final changes after `after`, in order, at most `limit`; only those of
   * `lists`, and those naming `userId` (a change of their access, their own
   * list deleted), when `only` is given.
   */
  async since(
    db: Queryable,
    after: Position,
    limit: number,
    only?: { userId: number; lists: number[] },
  ): Promise<Change[]> {
    const params: unknown[] = [after.xid.toString(), after.seq.toString(), limit];
    let filter = '';
    if (only) {
      params.push(only.lists, only.userId);
      filter = ' AND (list_id = ANY($4::int[]) OR user_id = $5)';
    }
    const rows = await db.query<ChangeRow>(
      `SELECT xid::text, seq::text, list_id AS "listId", kind, todo_id AS "todoId", todo_uid::text AS "todoUid", user_id AS "userId"
       FROM list_changes WHERE (xid, seq) > ($1::xid8, $2::bigint) AND ${FINAL}${filter}
       ORDER BY xid, seq LIMIT $3`,
      params,
    );
    return rows.map(({ xid, seq, ...change }) => ({ position: { xid: BigInt(xid), seq: BigInt(seq) }, ...change }));
  },

  /** Whether any change after `after` exists, final or not (one not yet final is read a moment later). */
  async anyAfter(db: Queryable, after: Position): Promise<boolean> {
    const [row] = await db.query<{ any: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM list_changes WHERE (xid, seq) > ($1::xid8, $2::bigint)) AS any',
      [after.xid.toString(), after.seq.toString()],
    );
    return row?.any === true;
  },

  /** Deletes changes older than the retention, moving the horizon past them; how many went. */
  async prune(db: Queryable, retentionDays: number): Promise<number> {
    const [row] = await db.query<{ pruned: number }>(
      `WITH gone AS (
         DELETE FROM list_changes WHERE changed_at < now() - make_interval(days => $1) RETURNING xid, seq
       ), newest AS (
         SELECT xid, seq FROM gone ORDER BY xid DESC, seq DESC LIMIT 1
       ), moved AS (
         UPDATE list_changes_horizon h SET xid = newest.xid, seq = newest.seq FROM newest
         WHERE (newest.xid, newest.seq) > (h.xid, h.seq) RETURNING 1
       )
       SELECT (SELECT count(*) FROM gone)::int AS pruned`,
      [retentionDays],
    );
    return row?.pruned ?? 0;
  },
};
