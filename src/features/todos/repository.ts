// SQL for todos. Every function takes the scope whose todos it may see, so a
// route cannot forget it: a todo of a list the caller is not a member of is,
// to the caller, missing. Who may read or change a list is decided by
// ../lists/access.ts alone.
import type { Queryable } from '../../db/database.ts';
import { escapeLike, type Statement } from '../../db/sql.ts';
import { canEdit, editableListIds, readableListIds } from '../lists/access.ts';
import { isStored, TODO_FIELDS, type DerivedField, type StoredField, type TodoField } from './fields.ts';
import { fieldEntries, type CreateTodo, type TodoRecord, type UpdateTodo } from './schemas.ts';

/** A person, for a todo found by its id: any list they may read (or edit, to change it). */
export interface PersonScope {
  userId: number;
}

/**
 * A list of a person's: `listId` is one `userId` was found to be able to read
 * (their Inbox, from the log-in, or another through access.roleInList). Reads
 * take that as given; every write checks again, in its own statement, that
 * the person may change the list, so a role taken away meanwhile holds.
 */
export interface TodoScope extends PersonScope {
  listId: number;
}

export type { TodoRecord };

/** What a create may give (CreateTodo): absent fields get their defaults (fields.ts, onCreate). */
export type NewTodo = CreateTodo;
/** What a patch may change (UpdateTodo): only the fields given. */
export type TodoChanges = UpdateTodo;

/** Position in the newest-first listing, for keyset pagination. */
export interface ListPosition {
  /** ISO 8601. */
  createdAt: string;
  id: number;
}

export type TodoSort = 'newest' | 'due' | 'order';

const ORDER_BY: Record<TodoSort, string> = {
  newest: 'created_at DESC, id DESC',
  due: 'due_date ASC NULLS LAST, created_at DESC, id DESC',
  order: '"order" ASC, id ASC',
};

export interface ListOptions {
  completed?: boolean;
  /** Newest first by default, as the old app listed them. Keyset pagination (`after`) needs 'newest'. */
  sort?: TodoSort;
  text?: string;
  limit?: number;
  /** Rows skipped before the first one listed (the list page's pages; the API pages by `after`). */
  offset?: number;
  after?: ListPosition;
}

/**
 * The SQL of a field list (fields.ts): the columns a TodoRecord is read from,
 * the INSERT of a new todo, a patch's assignments and the todo as the API's
 * JSON. A function of the list so that a test can derive it for a list with
 * a field more.
 */
export function todoSqlOf(fields: Record<string, TodoField>) {
  const entries = fieldEntries(fields);
  const stored = entries.filter((entry): entry is [string, StoredField] => isStored(entry[1]));
  const derived = entries.filter((entry): entry is [string, DerivedField] => !isStored(entry[1]));
  const readAs = (name: string, sql: string) => (sql.replaceAll('"', '') === name ? sql : `${sql} AS "${name}"`);
  /** The columns of a TodoRecord, unqualified (for FROM todos and RETURNING). */
  const columns = [
    ...stored.map(([name, field]) => readAs(name, field.select?.(field.column) ?? field.column)),
    'xmin::text AS version',
  ].join(', ');
  /** The fields JavaScript turns into their wire values after reading. */
  const converted = stored.flatMap(([name, field]) =>
    field.fromSelected ? [{ name, convert: field.fromSelected }] : [],
  );
  // A new todo's INSERT: the same text for every todo (one prepared statement);
  // a field not given gets its default ($1 is the list's id). It inserts
  // nothing unless the writer (the last parameter) may change the list, and
  // gives the todo its list's owner (which the previous release reads).
  const created = stored.filter(([, field]) => field.onCreate !== undefined);
  const writer = `$${created.length + 2}::integer`;
  const insertText = `INSERT INTO todos (list_id, owner_id, ${created.map(([, field]) => field.column).join(', ')}) SELECT l.id, l.owner_id, ${created
    .map(([, field], index) => {
      const param = `$${index + 2}::${field.sqlType}`;
      return field.onCreate === 'required' || field.onCreate?.default === 'NULL'
        ? param
        : `coalesce(${param}, ${field.onCreate?.default})`;
    })
    .join(', ')} FROM lists l WHERE l.id = $1 AND ${canEdit('l.id', writer)}`;
  const patched = stored.filter(([, field]) => field.onPatch);
  // By the SQL of the base URL, a parameter reference: the statements use two.
  const jsonColumnsFor = new Map<string, string>();
  return {
    columns,
    /** The rows of a todo query, their values made the wire's in place. */
    fromRows(rows: TodoRecord[]): TodoRecord[] {
      if (converted.length === 0) return rows;
      for (const row of rows) {
        const values = row as unknown as Record<string, string>;
        for (const { name, convert } of converted) values[name] = convert(values[name] ?? '') as string;
      }
      return rows;
    },
    /** A new todo's INSERT, without its RETURNING. */
    insertOf(scope: TodoScope, todo: Record<string, unknown>): Statement {
      return {
        text: insertText,
        params: [scope.listId, ...created.map(([name]) => todo[name] ?? null), scope.userId],
      };
    },
    /** `column = $n` for each field given, its value appended to `params`; undefined when no field is given. */
    assignmentsOf(changes: Record<string, unknown>, params: unknown[]): string | undefined {
      const assignments: string[] = [];
      for (const [name, field] of patched) {
        if (changes[name] === undefined) continue;
        params.push(changes[name]);
        assignments.push(`${field.column} = $${params.length}::${field.sqlType}`);
      }
      return assignments.length === 0 ? undefined : assignments.join(', ');
    },
    /**
     * The todo as the API shows it — the fields toJson writes, in its order,
     * as compact JSON (`body`) — and its URL (`location`), for the statements
     * a write stores with its response (WriteOnce.statement): the database
     * writes the response in the same statement as the change. `base` is the
     * SQL of the API's base URL (a parameter).
     */
    jsonColumns(base: string): string {
      const made = jsonColumnsFor.get(base);
      if (made !== undefined) return made;
      const values = entries.map(([name, field]) => {
        if (!isStored(field)) return `${field.derived.sql('todos', base)} AS "${name}"`;
        const column = `todos.${field.column}`;
        return `${field.json?.(column) ?? column} AS "${name}"`;
      });
      const url = derived.find(([name]) => name === 'url')?.[1];
      if (!url) throw new Error('a todo has a url: the location of its responses');
      const columns = `(SELECT row_to_json(j)::text FROM (SELECT ${values.join(', ')}) j) AS body, ${url.derived.sql('todos', base)} AS location`;
      jsonColumnsFor.set(base, columns);
      return columns;
    },
  };
}

const todoSql = todoSqlOf(TODO_FIELDS);
/** The columns of a TodoRecord (bench/ runs the same select). */
export const TODO_COLUMNS = todoSql.columns;
const { fromRows, insertOf, assignmentsOf } = todoSql;
const apiJsonColumns = (base: string) => todoSql.jsonColumns(base);

/**
 * A list as far as anything made of it is concerned (list-cache.ts, the list
 * page's kept items): which todos, which versions of them, in the list's order.
 */
export interface ListVersions {
  /** Each todo's `id:version`, space-separated, in order: what versionsOf makes of the todos themselves. */
  versions: string;
  /** The ids of the overdue ones (due before the database's today, not done), space-separated, in order. */
  overdue: string;
  count: number;
  completed: number;
}

/** The `versions` of ListVersions, from todos read in full. */
export function versionsOf(todos: readonly Pick<TodoRecord, 'id' | 'version'>[]): string {
  return todos.map((todo) => `${todo.id}:${todo.version}`).join(' ');
}

const VERSION_COLUMNS =
  'id, xmin::text AS version, completed, coalesce(due_date < current_date, false) AND NOT completed AS overdue, created_at, due_date, "order"';

/** The one listing query (filters, order, page) behind both listIn and listVersionsIn, so the two cannot disagree on which rows a list has. */
function listQuery(
  columns: string,
  scope: TodoScope,
  options: ListOptions,
): { sql: string; where: string; params: unknown[] } {
  const conditions: string[] = ['list_id = $1'];
  const params: unknown[] = [scope.listId];
  if (options.completed !== undefined) {
    params.push(options.completed);
    conditions.push(`completed = $${params.length}`);
  }
  if (options.text) {
    params.push(`%${escapeLike(options.text)}%`);
    conditions.push(`(title ILIKE $${params.length} OR notes ILIKE $${params.length})`);
  }
  if (options.after) {
    params.push(options.after.createdAt, options.after.id);
    conditions.push(`(created_at, id) < ($${params.length - 1}, $${params.length})`);
  }
  const where = conditions.join(' AND ');
  let sql = `SELECT ${columns} FROM todos WHERE ${where} ORDER BY ${ORDER_BY[options.sort ?? 'newest']}`;
  if (options.limit !== undefined) {
    params.push(options.limit);
    sql += ` LIMIT $${params.length}`;
  }
  if (options.offset !== undefined) {
    params.push(options.offset);
    sql += ` OFFSET $${params.length}`;
  }
  return { sql, where, params };
}

/** SQL: a todo `$1` the person `$2` may read. */
const VISIBLE = `id = $1 AND list_id IN (${readableListIds('$2')})`;
/** SQL: a todo `$1` the person `$2` may change. */
const EDITABLE = `id = $1 AND list_id IN (${editableListIds('$2')})`;
/** SQL: the todos of list `$1`, when the person `$2` may change them. */
const EDITABLE_LIST = `list_id = $1 AND ${canEdit('$1', '$2')}`;

/**
 * A patch's SET list and the condition a move adds: the list a todo moves to
 * (`listId`) must be one the person may change too.
 */
function patchOf(changes: TodoChanges, params: unknown[]): { assignments?: string; condition: string } {
  const assignments = assignmentsOf(changes, params);
  if (changes.listId === undefined) return { assignments, condition: '' };
  params.push(changes.listId);
  return { assignments, condition: ` AND ${canEdit(`$${params.length}::integer`, '$2')}` };
}

export const todosRepository = {
  async listIn(db: Queryable, scope: TodoScope, options: ListOptions = {}): Promise<TodoRecord[]> {
    const { sql, params } = listQuery(TODO_COLUMNS, scope, options);
    return fromRows(await db.query<TodoRecord>(sql, params));
  },

  /**
   * Which rows listIn would return, in its order, with their versions
   * only, as one row of text: far less to send and decode than the rows, so
   * what was already made of exactly this list can be reused.
   */
  async listVersionsIn(db: Queryable, scope: TodoScope, options: ListOptions = {}): Promise<ListVersions> {
    const { sql, params } = listQuery(VERSION_COLUMNS, scope, options);
    const order = ORDER_BY[options.sort ?? 'newest'];
    const [list] = await db.query<ListVersions>(
      `SELECT coalesce(string_agg(id || ':' || version, ' ' ORDER BY ${order}), '') AS versions,
              coalesce(string_agg(id::text, ' ' ORDER BY ${order}) FILTER (WHERE overdue), '') AS overdue,
              count(*)::int AS count, count(*) FILTER (WHERE completed)::int AS completed
       FROM (${sql}) listed`,
      params,
    );
    if (!list) throw new Error('an aggregate query returned no row');
    return list;
  },

  /**
   * listVersionsIn for one page of a list (`limit` and `offset`), with
   * how many todos, and completed ones, the whole list has (every page, in
   * the same statement): what the list page needs before it knows whether
   * its items are kept.
   */
  async pageVersionsIn(
    db: Queryable,
    scope: TodoScope,
    options: ListOptions,
  ): Promise<ListVersions & { total: number; totalCompleted: number }> {
    const { sql, where, params } = listQuery(VERSION_COLUMNS, scope, options);
    const order = ORDER_BY[options.sort ?? 'newest'];
    const [list] = await db.query<ListVersions & { total: number; totalCompleted: number }>(
      `SELECT coalesce(string_agg(id || ':' || version, ' ' ORDER BY ${order}), '') AS versions,
              coalesce(string_agg(id::text, ' ' ORDER BY ${order}) FILTER (WHERE overdue), '') AS overdue,
              count(listed.id)::int AS count, count(listed.id) FILTER (WHERE completed)::int AS completed,
              whole.total, whole."totalCompleted"
       FROM (SELECT count(*)::int AS total, count(*) FILTER (WHERE completed)::int AS "totalCompleted" FROM todos WHERE ${where}) whole
       LEFT JOIN (${sql}) listed ON true -- one row even for an empty page
       GROUP BY whole.total, whole."totalCompleted"`,
      params,
    );
    if (!list) throw new Error('an aggregate query returned no row');
    return list;
  },

  /**
   * Todos by id, in whichever list they are now, whoever may see them: for the
   * events feed only, which sends each to the members of its list (access.ts).
   */
  async anyForFeed(db: Queryable, ids: number[]): Promise<(TodoRecord & { listId: number })[]> {
    return fromRows(await db.query(`SELECT ${TODO_COLUMNS} FROM todos WHERE id = ANY($1::int[])`, [ids]));
  },

  /** A todo of any list the person may read. */
  async getById(db: Queryable, scope: PersonScope, id: number): Promise<TodoRecord | undefined> {
    const [todo] = fromRows(
      await db.query<TodoRecord>(`SELECT ${TODO_COLUMNS} FROM todos WHERE ${VISIBLE}`, [id, scope.userId]),
    );
    return todo;
  },

  /** Adds a todo to the list; undefined when the person may not change it. */
  async createIn(db: Queryable, scope: TodoScope, todo: NewTodo): Promise<TodoRecord | undefined> {
    const insert = insertOf(scope, todo);
    const [created] = fromRows(await db.query<TodoRecord>(`${insert.text} RETURNING ${TODO_COLUMNS}`, insert.params));
    return created;
  },

  /** createIn as a statement returning the new todo as the API's JSON (`body`) and its URL (`location`), under `base`; no row when the person may not change the list. */
  createStatement(scope: TodoScope, todo: NewTodo, base: string): Statement {
    const insert = insertOf(scope, todo);
    return {
      text: `${insert.text} RETURNING ${apiJsonColumns(`$${insert.params.length + 1}::text`)}`,
      params: [...insert.params, base],
    };
  },

  /** Changes only the given fields of a todo the person may change; undefined when there is none (or a move's list is not one they may change). */
  async updateById(
    db: Queryable,
    scope: PersonScope,
    id: number,
    changes: TodoChanges,
  ): Promise<TodoRecord | undefined> {
    const params: unknown[] = [id, scope.userId];
    const { assignments, condition } = patchOf(changes, params);
    if (assignments === undefined) return this.getById(db, scope, id);
    const [updated] = fromRows(
      await db.query<TodoRecord>(
        `UPDATE todos SET ${assignments}, updated_at = now() WHERE ${EDITABLE}${condition} RETURNING ${TODO_COLUMNS}`,
        params,
      ),
    );
    return updated;
  },

  /** updateById as a statement returning the todo as the API's JSON (`body`); no row when it is not the person's to change. */
  updateStatement(scope: PersonScope, id: number, changes: TodoChanges, base: string): Statement {
    const params: unknown[] = [id, scope.userId, base];
    const { assignments, condition } = patchOf(changes, params);
    // Nothing to change: the todo as it is (a SELECT can stand where the change goes), if the person may change it.
    const text =
      assignments === undefined
        ? `SELECT ${apiJsonColumns('$3::text')} FROM todos WHERE ${EDITABLE}`
        : `UPDATE todos SET ${assignments}, updated_at = now() WHERE ${EDITABLE}${condition} RETURNING ${apiJsonColumns('$3::text')}`;
    return { text, params };
  },

  /** deleteById as a statement returning a row (with no `body` or `location`) when the todo was deleted. */
  deleteStatement(scope: PersonScope, id: number): Statement {
    return {
      text: `DELETE FROM todos WHERE ${EDITABLE} RETURNING NULL::text AS body, NULL::text AS location`,
      params: [id, scope.userId],
    };
  },

  async deleteById(db: Queryable, scope: PersonScope, id: number): Promise<boolean> {
    const rows = await db.query(`DELETE FROM todos WHERE ${EDITABLE} RETURNING id`, [id, scope.userId]);
    return rows.length > 0;
  },

  /** How many todos of the list are active and completed, and the database's today (what "overdue" is measured against). */
  async summaryIn(db: Queryable, scope: TodoScope): Promise<{ active: number; completed: number; today: string }> {
    const [summary] = await db.query<{ active: number; completed: number; today: string }>(
      `SELECT count(*) FILTER (WHERE NOT completed)::int AS active, count(*) FILTER (WHERE completed)::int AS completed,
              current_date::text AS today
       FROM todos WHERE list_id = $1`,
      [scope.listId],
    );
    if (!summary) throw new Error('an aggregate query returned no row');
    return summary;
  },

  /** The database's today, YYYY-MM-DD (what "overdue" is measured against). */
  async today(db: Queryable): Promise<string> {
    const [row] = await db.query<{ today: string }>('SELECT current_date::text AS today');
    if (!row) throw new Error('SELECT returned no row');
    return row.today;
  },

  async setCompletedForAllIn(db: Queryable, scope: TodoScope, completed: boolean): Promise<number> {
    const rows = await db.query(
      `UPDATE todos SET completed = $3, updated_at = now() WHERE ${EDITABLE_LIST} AND completed <> $3 RETURNING id`,
      [scope.listId, scope.userId, completed],
    );
    return rows.length;
  },

  /** Deletes the given todos of the list; ids outside it are ignored. */
  async deleteManyIn(db: Queryable, scope: TodoScope, ids: number[]): Promise<number> {
    const rows = await db.query(`DELETE FROM todos WHERE ${EDITABLE_LIST} AND id = ANY($3::int[]) RETURNING id`, [
      scope.listId,
      scope.userId,
      ids,
    ]);
    return rows.length;
  },

  async deleteCompletedIn(db: Queryable, scope: TodoScope): Promise<number> {
    return this.deleteAllIn(db, scope, { completed: true });
  },

  /**
   * Swaps a todo's manual position with its neighbour above or below in its
   * list; false when it is already at that end, undefined when it is not the
   * person's to change. Run it inside a transaction: it locks both rows.
   */
  async moveById(
    tx: Queryable,
    scope: PersonScope,
    id: number,
    direction: 'up' | 'down',
  ): Promise<boolean | undefined> {
    const [todo] = await tx.query<{ order: number; listId: number }>(
      `SELECT "order", list_id AS "listId" FROM todos WHERE ${EDITABLE} FOR UPDATE`,
      [id, scope.userId],
    );
    if (!todo) return undefined;
    const neighbourSql =
      direction === 'up'
        ? 'SELECT id, "order" FROM todos WHERE list_id = $1 AND ("order", id) < ($2, $3) ORDER BY "order" DESC, id DESC LIMIT 1 FOR UPDATE'
        : 'SELECT id, "order" FROM todos WHERE list_id = $1 AND ("order", id) > ($2, $3) ORDER BY "order" ASC, id ASC LIMIT 1 FOR UPDATE';
    const [neighbour] = await tx.query<{ id: number; order: number }>(neighbourSql, [todo.listId, todo.order, id]);
    if (!neighbour) return false;
    // Equal positions cannot be swapped meaningfully: step past the neighbour instead.
    const mine = neighbour.order === todo.order ? todo.order + (direction === 'up' ? -1 : 1) : neighbour.order;
    await tx.query('UPDATE todos SET "order" = $2, updated_at = now() WHERE id = $1', [id, mine]);
    await tx.query('UPDATE todos SET "order" = $2, updated_at = now() WHERE id = $1', [neighbour.id, todo.order]);
    return true;
  },

  /** Deletes every todo of the list, or only its completed (`completed: true`) or active (`false`) ones. */
  async deleteAllIn(db: Queryable, scope: TodoScope, filter: { completed?: boolean } = {}): Promise<number> {
    const rows =
      filter.completed === undefined
        ? await db.query(`DELETE FROM todos WHERE ${EDITABLE_LIST} RETURNING id`, [scope.listId, scope.userId])
        : await db.query(`DELETE FROM todos WHERE ${EDITABLE_LIST} AND completed = $3 RETURNING id`, [
            scope.listId,
            scope.userId,
            filter.completed,
          ]);
    return rows.length;
  },
};
