// Who may see and change which list: the one place that says it. Every query
// on todos and lists takes its conditions from here (the todos and lists
// repositories, the events feed, and later CalDAV and the exporter), so no
// caller re-derives membership.
//
// A list's owner may do everything; an editor adds, changes, completes and
// deletes its todos; a viewer reads. Anyone else does not know the list
// exists: the routes answer 404, never 403, to a stranger.
import type { Queryable } from '../../db/database.ts';
import { parseRowId } from '../../db/sql.ts';
import { HttpError, notFound } from '../../plugins/errors.ts';

export type Role = 'owner' | 'editor' | 'viewer';

/** SQL: the ids of the lists the user (`user`, SQL of an integer) may read. */
export function readableListIds(user: string): string {
  return `SELECT id FROM lists WHERE owner_id = ${user} UNION ALL SELECT list_id FROM list_members WHERE user_id = ${user}`;
}

/** SQL: the ids of the lists the user may change the todos of. */
export function editableListIds(user: string): string {
  return `SELECT id FROM lists WHERE owner_id = ${user} UNION ALL SELECT list_id FROM list_members WHERE user_id = ${user} AND role = 'editor'`;
}

/** SQL: whether the user may change the todos of list `list`. */
export function canEdit(list: string, user: string): string {
  return `(EXISTS (SELECT 1 FROM lists WHERE id = ${list} AND owner_id = ${user}) OR EXISTS (SELECT 1 FROM list_members WHERE list_id = ${list} AND user_id = ${user} AND role = 'editor'))`;
}

/** SQL: the user's role in the list `l` (an alias of lists), NULL when they have none. */
export function roleIn(l: string, user: string): string {
  return `CASE WHEN ${l}.owner_id = ${user} THEN 'owner' ELSE (SELECT role FROM list_members WHERE list_id = ${l}.id AND user_id = ${user}) END`;
}

export const access = {
  /** The user's role in a list, undefined when they may not see it (or it does not exist). */
  async roleInList(db: Queryable, userId: number, listId: number): Promise<Role | undefined> {
    const [row] = await db.query<{ role: Role | null }>(
      `SELECT ${roleIn('l', '$2')} AS role FROM lists l WHERE l.id = $1`,
      [listId, userId],
    );
    return row?.role ?? undefined;
  },

  /** The user's role in the list of a todo, undefined when they may not see it. */
  async roleForTodo(db: Queryable, userId: number, todoId: number): Promise<Role | undefined> {
    const [row] = await db.query<{ role: Role | null }>(
      `SELECT ${roleIn('l', '$2')} AS role FROM todos t JOIN lists l ON l.id = t.list_id WHERE t.id = $1`,
      [todoId, userId],
    );
    return row?.role ?? undefined;
  },
};

export function mayEdit(role: Role | undefined): role is 'owner' | 'editor' {
  return role === 'owner' || role === 'editor';
}

export const forbidden = (what: string) => new HttpError(403, what);

/** A list id from a path (`:listId`); one that is no id is a list that does not exist: 404. */
export function listIdOf(params: { listId: string }): number {
  const id = parseRowId(params.listId);
  if (id === undefined) throw notFound('List not found');
  return id;
}

/** The user's role in a list they may change the todos of; 403 (`what`) for a viewer, 404 for anyone else. */
export async function editorOf(db: Queryable, userId: number, listId: number, what: string): Promise<Role> {
  const role = await access.roleInList(db, userId, listId);
  if (!mayEdit(role)) throw refusalFor(role, what);
  return role;
}

/** A member is told they may not (403, `what`); anyone else that there is no such list (404). */
function refusalFor(role: Role | undefined, what: string): HttpError {
  return role ? forbidden(what) : notFound('List not found');
}

/**
 * What to answer a write to a list that changed nothing: a person who may see
 * the list is told they may not do this (403, `what`); anyone else that there
 * is no such list (404).
 */
export async function listRefusal(db: Queryable, userId: number, listId: number, what: string): Promise<HttpError> {
  return refusalFor(await access.roleInList(db, userId, listId), what);
}

/**
 * What to answer a write to a todo by id that changed nothing: a viewer's
 * 403; for a move (`movingTo`) by someone who may change the todo, a 400
 * naming listId (the list it was to go to is not theirs to change); 404 for
 * anyone else.
 */
export async function todoRefusal(
  db: Queryable,
  userId: number,
  todoId: number,
  movingTo?: number,
): Promise<HttpError> {
  const role = await access.roleForTodo(db, userId, todoId);
  if (role === 'viewer') return forbidden('This list is read-only for you');
  if (role && movingTo !== undefined) {
    const message = 'is not a list you can edit';
    return new HttpError(400, `listId ${message}`, [{ field: 'listId', message }]);
  }
  return notFound('Todo not found');
}
