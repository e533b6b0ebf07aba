// The JSON API under /api/todos (compatible with the Todo-Backend contract).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Database } from '../../db/database.ts';
import { parseRowId } from '../../db/sql.ts';
import { requireApiUser } from '../../plugins/auth.ts';
import { notFound } from '../../plugins/errors.ts';
import { CreateTodo, ErrorResponse, ListTodosQuery, Todo, TodoIdParams, UpdateTodo } from './schemas.ts';
import { todosRepository, type ListPosition, type TodoRecord, type TodoScope } from './repository.ts';

export interface TodoApiOptions {
  db: Database;
}

/** The caller's own todos: every API route works inside this scope. */
function scopeOf(request: FastifyRequest): TodoScope {
  return { ownerId: requireApiUser(request).id };
}

export function baseUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

export function toJson(todo: TodoRecord, base: string) {
  return {
    ...todo,
    createdAt: todo.createdAt.toISOString(),
    updatedAt: todo.updatedAt.toISOString(),
    url: `${base}/api/todos/${todo.id}`,
  };
}

function encodeCursor(position: ListPosition): string {
  return Buffer.from(`${position.createdAt.toISOString()}|${position.id}`).toString('base64url');
}

function decodeCursor(cursor: string): ListPosition | undefined {
  const [time, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(time ?? '');
  const todoId = parseRowId(id ?? '');
  return Number.isNaN(createdAt.getTime()) || todoId === undefined ? undefined : { createdAt, id: todoId };
}

const errors = { 400: ErrorResponse, 404: ErrorResponse, 413: ErrorResponse, 415: ErrorResponse };

export const todoApiRoutes: FastifyPluginAsyncTypebox<TodoApiOptions> = async (app, { db }) => {
  const tags = ['todos'];

  // Surrounding whitespace is not part of a title; trim before validation so
  // "   " is rejected as empty and the length limit applies to what is kept.
  app.addHook('preValidation', async (request) => {
    const body = request.body as { title?: unknown } | undefined;
    if (body && typeof body === 'object' && typeof body.title === 'string') body.title = body.title.trim();
  });

  app.get(
    '/todos',
    { schema: { tags, summary: 'List todos, newest first', querystring: ListTodosQuery, response: { 200: Type.Array(Todo), 400: ErrorResponse } } },
    async (request, reply) => {
      const { completed, q, limit, cursor, sort = 'newest' } = request.query;
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      if (cursor !== undefined && (after === undefined || sort !== 'newest')) {
        const message = after === undefined ? 'is not a cursor this API gave out' : 'works only with sort=newest';
        return reply.code(400).send({ error: 'Invalid query parameter', details: [{ field: 'cursor', message }] });
      }
      const todos = await todosRepository.listForOwner(db, scopeOf(request), { completed, text: q?.trim(), limit, after, sort });
      const base = baseUrl(request);
      const last = todos.at(-1);
      if (limit !== undefined && sort === 'newest' && last && todos.length === limit) {
        const next = new URLSearchParams(request.query as Record<string, string>);
        next.set('cursor', encodeCursor(last));
        reply.header('link', `<${base}/api/todos?${next}>; rel="next"`);
      }
      return todos.map((todo) => toJson(todo, base));
    },
  );

  app.post(
    '/todos',
    { schema: { tags, summary: 'Create a todo', body: CreateTodo, response: { 201: Todo, ...errors } } },
    async (request, reply) => {
      const todo = await todosRepository.createForOwner(db, scopeOf(request), request.body);
      const json = toJson(todo, baseUrl(request));
      return reply.code(201).header('location', json.url).send(json);
    },
  );

  app.delete(
    '/todos',
    { schema: { tags, summary: 'Delete every todo of the caller', response: { 204: Type.Null() } } },
    async (request, reply) => {
      await todosRepository.deleteAllForOwner(db, scopeOf(request));
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/todos/:id',
    { schema: { tags, summary: 'Read one todo', params: TodoIdParams, response: { 200: Todo, 404: ErrorResponse } } },
    async (request) => {
      const id = parseRowId(request.params.id);
      const todo = id === undefined ? undefined : await todosRepository.getForOwner(db, scopeOf(request), id);
      if (!todo) throw notFound('Todo not found');
      return toJson(todo, baseUrl(request));
    },
  );

  app.patch(
    '/todos/:id',
    { schema: { tags, summary: 'Change the given fields of a todo', params: TodoIdParams, body: UpdateTodo, response: { 200: Todo, ...errors } } },
    async (request) => {
      const id = parseRowId(request.params.id);
      const todo = id === undefined ? undefined : await todosRepository.updateForOwner(db, scopeOf(request), id, request.body);
      if (!todo) throw notFound('Todo not found');
      return toJson(todo, baseUrl(request));
    },
  );

  app.delete(
    '/todos/:id',
    { schema: { tags, summary: 'Delete a todo', params: TodoIdParams, response: { 204: Type.Null(), 404: ErrorResponse } } },
    async (request, reply) => {
      const id = parseRowId(request.params.id);
      const deleted = id === undefined ? false : await todosRepository.deleteForOwner(db, scopeOf(request), id);
      if (!deleted) throw notFound('Todo not found');
      return reply.code(204).send(null);
    },
  );
};
