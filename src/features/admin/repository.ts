// Admin-only SQL: these functions see every user's todos. They live apart from
// the owner-scoped todosRepository, and their names say "any", so no ordinary
// route reaches for one by accident.
import type { Queryable } from '../../db/database.ts';
import { escapeLike } from '../../db/sql.ts';
import type { TodoRecord } from '../todos/repository.ts';

export interface AdminTodoRecord extends Omit<TodoRecord, 'createdAt' | 'updatedAt' | 'version'> {
  createdAt: Date;
  updatedAt: Date;
  /** Null only for todos taken over from the old app before any admin existed. */
  ownerId: number | null;
  ownerUsername: string | null;
  /** The list it is in (null as for ownerId). */
  listName: string | null;
  overdue: boolean;
}

export interface AdminTodoFilters {
  text?: string;
  ownerId?: number;
  completed?: boolean;
  /** Due before today (the database's today) and not completed. */
  overdue?: boolean;
}

export interface AdminTodoPage {
  todos: AdminTodoRecord[];
  /** Whether another page follows this one. */
  hasMore: boolean;
}

export interface AdminTodoChanges {
  title: string;
  notes: string;
  dueDate: string | null;
  completed: boolean;
}

export const ADMIN_PAGE_SIZE = 200;

const COLUMNS = `t.id, t.title, t.notes, t.due_date::text AS "dueDate", t.completed, t."order",
  t.created_at AS "createdAt", t.updated_at AS "updatedAt",
  t.owner_id AS "ownerId", u.username AS "ownerUsername", l.name AS "listName",
  (t.due_date < current_date AND NOT t.completed) AS overdue`;
const FROM = 'todos t LEFT JOIN users u ON u.id = t.owner_id LEFT JOIN lists l ON l.id = t.list_id';

export const adminTodosRepository = {
  /** Every user's todos matching the filters, newest first, one page (1-based) at a time. */
  async search(db: Queryable, filters: AdminTodoFilters, page = 1, pageSize = ADMIN_PAGE_SIZE): Promise<AdminTodoPage> {
    const conditions: string[] = [];
    const params: unknown[] = [];
    if (filters.text) {
      params.push(`%${escapeLike(filters.text)}%`);
      conditions.push(`(t.title ILIKE $${params.length} OR t.notes ILIKE $${params.length})`);
    }
    if (filters.ownerId !== undefined) {
      params.push(filters.ownerId);
      conditions.push(`t.owner_id = $${params.length}`);
    }
    if (filters.completed !== undefined) {
      params.push(filters.completed);
      conditions.push(`t.completed = $${params.length}`);
    }
    if (filters.overdue) conditions.push('t.due_date < current_date AND NOT t.completed');
    // One row more than a page tells whether there is a next page without a count(*).
    params.push(pageSize + 1, (page - 1) * pageSize);
    const rows = await db.query<AdminTodoRecord>(
      `SELECT ${COLUMNS} FROM ${FROM}
       ${conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : ''}
       ORDER BY t.created_at DESC, t.id DESC
       LIMIT $${params.length - 1} OFFSET $${params.length}`,
      params,
    );
    return { todos: rows.slice(0, pageSize), hasMore: rows.length > pageSize };
  },

  async getAny(db: Queryable, id: number): Promise<AdminTodoRecord | undefined> {
    const [todo] = await db.query<AdminTodoRecord>(`SELECT ${COLUMNS} FROM ${FROM} WHERE t.id = $1`, [id]);
    return todo;
  },

  /** Replaces the editable fields of any user's todo; false when it does not exist. */
  async updateAny(db: Queryable, id: number, changes: AdminTodoChanges): Promise<boolean> {
    const rows = await db.query(
      `UPDATE todos SET title = $2, notes = $3, due_date = $4, completed = $5, updated_at = now() WHERE id = $1 RETURNING id`,
      [id, changes.title, changes.notes, changes.dueDate, changes.completed],
    );
    return rows.length > 0;
  },

  async deleteAny(db: Queryable, id: number): Promise<boolean> {
    const rows = await db.query('DELETE FROM todos WHERE id = $1 RETURNING id', [id]);
    return rows.length > 0;
  },
};
