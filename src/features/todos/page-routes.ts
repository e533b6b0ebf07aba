// The server-rendered list page and its form posts (POST-redirect-GET).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { compileBodyValidator, describeValidationErrors } from '../../plugins/validation.ts';
import { renderTodoListPage } from '../../views/pages.ts';
import type { TodoApiOptions } from './api-routes.ts';
import { todosRepository } from './repository.ts';
import { CreateTodo } from './schemas.ts';

const AddTodoForm = Type.Object({ title: Type.Optional(Type.String()), dueDate: Type.Optional(Type.String()) });
const validateCreate = compileBodyValidator<CreateTodo>(CreateTodo);

export const todoPageRoutes: FastifyPluginAsyncTypebox<TodoApiOptions> = async (app, { db, scopeOf }) => {
  app.get('/', async (request, reply) => {
    const todos = await todosRepository.listForOwner(db, scopeOf(request));
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(renderTodoListPage(todos));
  });

  app.post('/todos', { schema: { body: AddTodoForm } }, async (request, reply) => {
    const title = (request.body.title ?? '').trim();
    const dueDate = request.body.dueDate?.trim() || null;
    const input = { title, ...(dueDate ? { dueDate } : {}) };
    if (!validateCreate(input)) {
      const todos = await todosRepository.listForOwner(db, scopeOf(request));
      const details = describeValidationErrors(validateCreate.errors ?? []);
      return reply
        .code(400)
        .type('text/html; charset=utf-8')
        .send(renderTodoListPage(todos, { error: 'The todo was not added', details }, { title, dueDate: dueDate ?? '' }));
    }
    await todosRepository.createForOwner(db, scopeOf(request), input);
    return reply.redirect('/', 303);
  });
};
