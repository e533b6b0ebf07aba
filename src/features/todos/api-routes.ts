// The JSON API under /api/todos (compatible with the Todo-Backend contract).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Database, Queryable } from '../../db/database.ts';
import { access, editorOf, listIdOf, listRefusal, todoRefusal } from '../lists/access.ts';
import { ListIdParams } from '../lists/schemas.ts';
import { parseRowId } from '../../db/sql.ts';
import { requireApiUser } from '../../plugins/auth.ts';
import { notFound } from '../../plugins/errors.ts';
import type { AppCaches } from '../../plugins/caches.ts';
import type { WriteOnce } from '../../plugins/idempotency.ts';
import {
  BulkResult,
  CreateTodo,
  DeleteSelectedTodos,
  DeleteTodosQuery,
  ErrorResponse,
  ListTodosQuery,
  MoveTodo,
  SetCompletedForAll,
  Todo,
  TodoIdParams,
  toJson,
  UpdateTodo,
  type TodoJson,
} from './schemas.ts';
import { todosRepository, versionsOf, type ListPosition, type TodoScope } from './repository.ts';
import { ListBodyCache, listKey } from './list-cache.ts';

export interface TodoApiOptions {
  db: Database;
  /** Every change goes through it: retried safely, repeatable with an Idempotency-Key. */
  writeOnce: WriteOnce;
  /** The app's caches: the API uses its list bodies. */
  caches: Pick<AppCaches, 'listBodies'>;
}

/** The caller's Inbox: /api/todos is the Todo-Backend contract over it. */
function scopeOf(request: FastifyRequest): TodoScope {
  const user = requireApiUser(request);
  return { userId: user.id, listId: user.inboxId };
}

/** The origin of the API's absolute URLs: PUBLIC_URL, or the request's checked Host (plugins/host-allowlist.ts). */
export function baseUrl(request: FastifyRequest): string {
  return request.publicOrigin;
}

function encodeCursor(position: ListPosition): string {
  return Buffer.from(`${position.createdAt}|${position.id}`).toString('base64url');
}

function decodeCursor(cursor: string): ListPosition | undefined {
  const [time, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(time ?? '');
  const todoId = parseRowId(id ?? '');
  return Number.isNaN(createdAt.getTime()) || todoId === undefined
    ? undefined
    : { createdAt: createdAt.toISOString(), id: todoId };
}

/**
 * Sends what toJson built. Its objects have exactly the Todo schema's fields
 * in its order, so JSON.stringify writes what the schema's serializer would
 * (test/todos/shape.test.ts checks it), and on Node 20 faster wherever a
 * string needs escaping (V8's own escaping instead of one written in
 * JavaScript). A string body with a JSON type skips the serializer.
 */
function sendJson(reply: FastifyReply, body: TodoJson | TodoJson[]): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(body));
}

const errors = { 400: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 413: ErrorResponse, 415: ErrorResponse };

export const todoApiRoutes: FastifyPluginAsyncTypebox<TodoApiOptions> = async (app, { db, writeOnce, caches }) => {
  const tags = ['todos'];

  // Surrounding whitespace is not part of a title; trim before validation so
  // "   " is rejected as empty and the length limit applies to what is kept.
  app.addHook('preValidation', async (request) => {
    const body = request.body as { title?: unknown } | undefined;
    if (body && typeof body === 'object' && typeof body.title === 'string') body.title = body.title.trim();
  });

  // Bodies of lists already built, reused until a row of the list changes (list-cache.ts).
  const lists = new ListBodyCache(caches.listBodies);

  /** A list's todos, as GET /api/todos answers them (filters, paging by cursor, ETag); `path` is the listing's own, for the Link header. */
  const listTodos = async (
    request: FastifyRequest<{ Querystring: ListTodosQuery }>,
    reply: FastifyReply,
    scope: TodoScope,
    path: string,
  ) => {
    const { completed, q, limit, cursor, sort = 'newest' } = request.query;
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    if (cursor !== undefined && (after === undefined || sort !== 'newest')) {
      const message = after === undefined ? 'is not a cursor this API gave out' : 'works only with sort=newest';
      return reply.code(400).send({ error: 'Invalid query parameter', details: [{ field: 'cursor', message }] });
    }
    const options = { completed, text: q?.trim(), limit, after, sort };
    const base = baseUrl(request);
    // Only the list's rows and versions: the key is made of ids that only a query of this list returns.
    let list = lists.get(listKey(base, (await todosRepository.listVersionsIn(db, scope, options)).versions));
    if (!list) {
      // Kept under the rows this query returned, which may already differ from the versions above.
      const todos = await todosRepository.listIn(db, scope, options);
      const last = todos.at(-1);
      list = lists.set(
        listKey(base, versionsOf(todos)),
        JSON.stringify(todos.map((todo) => toJson(todo, base))),
        todos.length,
        last && encodeCursor(last),
      );
    }
    if (limit !== undefined && sort === 'newest' && list.cursor !== undefined && list.count === limit) {
      const next = new URLSearchParams(request.query as Record<string, string>);
      next.set('cursor', list.cursor);
      reply.header('link', `<${base}${path}?${next}>; rel="next"`);
    }
    return lists.send(request, reply, list);
  };

  /** The scope of /api/lists/{id}/…: a list the caller may see (404 for any other). */
  const listScopeOf = async (request: FastifyRequest<{ Params: { listId: string } }>): Promise<TodoScope> => {
    const userId = requireApiUser(request).id;
    const listId = listIdOf(request.params);
    if (!(await access.roleInList(db, userId, listId))) throw notFound('List not found');
    return { userId, listId };
  };

  /** Creates a todo in the scope's list; nothing made is a viewer's 403 or a stranger's 404. */
  const create = async (request: FastifyRequest<{ Body: CreateTodo }>, reply: FastifyReply, scope: TodoScope) => {
    const change = todosRepository.createStatement(scope, request.body, baseUrl(request));
    if (!(await writeOnce.statement(request, reply, change, 201)))
      throw await listRefusal(db, scope.userId, scope.listId, 'This list is read-only for you');
    return reply;
  };

  app.get(
    '/todos',
    {
      schema: {
        tags,
        summary: 'List todos, newest first',
        description: 'Answers an `ETag`; with `If-None-Match` naming it, an unchanged list answers 304 without a body.',
        querystring: ListTodosQuery,
        response: {
          200: Type.Array(Todo),
          304: Type.Null({ description: 'The list is unchanged since the ETag given in If-None-Match.' }),
          400: ErrorResponse,
        },
      },
      // The list compresses its cached bodies itself (lists.send), once per version of the list.
      compress: false,
    },
    (request, reply) => listTodos(request, reply, scopeOf(request), '/api/todos'),
  );

  app.get(
    '/lists/:listId/todos',
    {
      schema: {
        tags,
        summary: 'List the todos of a list, newest first',
        description: 'The same filters, paging and ETag as `GET /api/todos` (which lists the Inbox).',
        params: ListIdParams,
        querystring: ListTodosQuery,
        response: {
          200: Type.Array(Todo),
          304: Type.Null({ description: 'The list is unchanged since the ETag given in If-None-Match.' }),
          400: ErrorResponse,
          404: ErrorResponse,
        },
      },
      compress: false,
    },
    async (request, reply) => {
      const scope = await listScopeOf(request);
      return listTodos(request, reply, scope, `/api/lists/${scope.listId}/todos`);
    },
  );

  app.post(
    '/lists/:listId/todos',
    {
      schema: {
        tags,
        summary: 'Create a todo in a list (its owner or an editor)',
        params: ListIdParams,
        body: CreateTodo,
        response: { 201: Todo, ...errors },
      },
    },
    (request, reply) =>
      create(request, reply, { userId: requireApiUser(request).id, listId: listIdOf(request.params) }),
  );

  app.post(
    '/todos',
    { schema: { tags, summary: 'Create a todo', body: CreateTodo, response: { 201: Todo, ...errors } } },
    (request, reply) => create(request, reply, scopeOf(request)),
  );

  /**
   * The bulk changes, each one statement (all or nothing), of the Inbox
   * (/api/todos, the Todo-Backend contract) and of any list
   * (/api/lists/{id}/todos: its owner or an editor; a viewer's 403, anyone
   * else's 404).
   */
  const scopes = [
    {
      path: '/todos',
      whose: 'the caller’s Inbox',
      params: undefined,
      scopeIn: async (_tx: Queryable, request: FastifyRequest) => scopeOf(request),
    },
    {
      path: '/lists/:listId/todos',
      whose: 'a list',
      params: ListIdParams,
      scopeIn: async (tx: Queryable, request: FastifyRequest): Promise<TodoScope> => {
        const userId = requireApiUser(request).id;
        const listId = listIdOf(request.params as { listId: string });
        await editorOf(tx, userId, listId, 'This list is read-only for you');
        return { userId, listId };
      },
    },
  ];
  for (const { path, whose, params, scopeIn } of scopes) {
    // No params schema at all where the path has none (Fastify warns of an empty one).
    const paramsOf = params ? { params } : {};
    app.delete(
      path,
      {
        schema: {
          tags,
          summary: `Delete every todo of ${whose}, or only the completed or active ones`,
          description:
            'Without `completed`, every todo goes (the Todo-Backend contract, for the Inbox); `?completed=true` is "clear completed". One statement: all or nothing.',
          ...paramsOf,
          querystring: DeleteTodosQuery,
          response: { 204: Type.Null(), ...errors },
        },
      },
      (request, reply) =>
        writeOnce(request, reply, async (tx) => {
          await todosRepository.deleteAllIn(tx, await scopeIn(tx, request), { completed: request.query.completed });
          return { status: 204 };
        }),
    );

    app.patch(
      path,
      {
        schema: {
          tags,
          summary: `Complete or reopen every todo of ${whose}`,
          description: 'Toggle all, in one statement. Answers how many todos changed state.',
          ...paramsOf,
          body: SetCompletedForAll,
          response: { 200: BulkResult, ...errors },
        },
      },
      (request, reply) =>
        writeOnce(request, reply, async (tx) => ({
          status: 200,
          body: {
            count: await todosRepository.setCompletedForAllIn(tx, await scopeIn(tx, request), request.body.completed),
          },
        })),
    );

    app.post(
      `${path}/delete`,
      {
        schema: {
          tags,
          summary: `Delete the listed todos of ${whose}`,
          description:
            'Deletes the todos among `ids` in one statement; other ids (unknown, or of another list) are ignored. Answers how many were deleted.',
          ...paramsOf,
          body: DeleteSelectedTodos,
          response: { 200: BulkResult, ...errors },
        },
      },
      (request, reply) =>
        writeOnce(request, reply, async (tx) => ({
          status: 200,
          body: { count: await todosRepository.deleteManyIn(tx, await scopeIn(tx, request), request.body.ids) },
        })),
    );
  }

  app.post(
    '/todos/:id/move',
    {
      schema: {
        tags,
        summary: 'Move a todo up or down in manual order',
        description:
          'Swaps its `order` with its neighbour above or below, in one transaction. At either end it stays where it is. Answers the todo.',
        params: TodoIdParams,
        body: MoveTodo,
        response: { 200: Todo, ...errors },
      },
    },
    (request, reply) =>
      writeOnce(request, reply, async (tx) => {
        const id = parseRowId(request.params.id);
        const moved =
          id === undefined
            ? undefined
            : await todosRepository.moveById(tx, scopeOf(request), id, request.body.direction);
        if (id === undefined) throw notFound('Todo not found');
        const todo = moved === undefined ? undefined : await todosRepository.getById(tx, scopeOf(request), id);
        if (!todo) throw await todoRefusal(tx, requireApiUser(request).id, id);
        return { status: 200, body: toJson(todo, baseUrl(request)) };
      }),
  );

  app.get(
    '/todos/:id',
    { schema: { tags, summary: 'Read one todo', params: TodoIdParams, response: { 200: Todo, 404: ErrorResponse } } },
    async (request, reply) => {
      const id = parseRowId(request.params.id);
      const todo = id === undefined ? undefined : await todosRepository.getById(db, scopeOf(request), id);
      if (!todo) throw notFound('Todo not found');
      return sendJson(reply, toJson(todo, baseUrl(request)));
    },
  );

  app.patch(
    '/todos/:id',
    {
      schema: {
        tags,
        summary: 'Change the given fields of a todo',
        params: TodoIdParams,
        body: UpdateTodo,
        response: { 200: Todo, ...errors },
      },
    },
    async (request, reply) => {
      const id = parseRowId(request.params.id);
      if (id === undefined) throw notFound('Todo not found');
      const change = todosRepository.updateStatement(scopeOf(request), id, request.body, baseUrl(request));
      if (!(await writeOnce.statement(request, reply, change, 200)))
        throw await todoRefusal(db, requireApiUser(request).id, id, request.body.listId);
      return reply;
    },
  );

  app.delete(
    '/todos/:id',
    {
      schema: {
        tags,
        summary: 'Delete a todo',
        params: TodoIdParams,
        response: { 204: Type.Null(), 403: ErrorResponse, 404: ErrorResponse },
      },
    },
    async (request, reply) => {
      const id = parseRowId(request.params.id);
      if (id === undefined) throw notFound('Todo not found');
      if (!(await writeOnce.statement(request, reply, todosRepository.deleteStatement(scopeOf(request), id), 204)))
        throw await todoRefusal(db, requireApiUser(request).id, id);
      return reply;
    },
  );
};
