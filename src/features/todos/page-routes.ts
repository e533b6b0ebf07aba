// The server-rendered list page and its form posts (POST-redirect-GET).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { compileBodyValidator, describeValidationErrors } from '../../plugins/validation.ts';
import { renderTodoListPage } from '../../views/pages.ts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../../db/database.ts';
import type { Viewer } from '../../views/pages.ts';
import { todosRepository } from './repository.ts';
import { CreateTodo } from './schemas.ts';

const AddTodoForm = Type.Object({ title: Type.Optional(Type.String()), dueDate: Type.Optional(Type.String()), _csrf: Type.Optional(Type.String()) });
const validateCreate = compileBodyValidator<CreateTodo>(CreateTodo);

export interface TodoPageOptions {
  db: Database;
  viewerOf: (request: FastifyRequest, reply: FastifyReply) => Viewer | undefined;
}

export const todoPageRoutes: FastifyPluginAsyncTypebox<TodoPageOptions> = async (app, { db, viewerOf }) => {
  app.get('/', async (request, reply) => {
    const viewer = viewerOf(request, reply);
    if (!viewer || !request.user) return reply.redirect('/login', 303);
    const todos = await todosRepository.listForOwner(db, { ownerId: request.user.id });
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(renderTodoListPage(viewer, todos));
  });

  app.post('/todos', { schema: { body: AddTodoForm } }, async (request, reply) => {
    const viewer = viewerOf(request, reply);
    if (!viewer || !request.user) return reply.redirect('/login', 303);
    const scope = { ownerId: request.user.id };
    const title = (request.body.title ?? '').trim();
    const dueDate = request.body.dueDate?.trim() || null;
    const input = { title, ...(dueDate ? { dueDate } : {}) };
    if (!validateCreate(input)) {
      const todos = await todosRepository.listForOwner(db, scope);
      const details = describeValidationErrors(validateCreate.errors ?? []);
      return reply
        .code(400)
        .type('text/html; charset=utf-8')
        .send(renderTodoListPage(viewer, todos, { error: 'The todo was not added', details }, { title, dueDate: dueDate ?? '' }));
    }
    await todosRepository.createForOwner(db, scope, input);
    return reply.redirect('/', 303);
  });
};
