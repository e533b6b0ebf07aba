// The admin area under /admin: server-rendered pages and plain form posts
// (POST-redirect-GET). To anyone but an admin using a browser session, every
// /admin URL is the ordinary 404, so the area cannot even be discovered.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TProperties } from 'typebox';
import type { Database } from '../../db/database.ts';
import { readReplicationStatus } from '../../db/replication.ts';
import { parseRowId } from '../../db/sql.ts';
import { HttpError, notFound } from '../../plugins/errors.ts';
import { sendHtml } from '../../plugins/html-reply.ts';
import { compileBodyValidator, describeValidationErrors } from '../../plugins/validation.ts';
import {
  renderAdminReplicationPage,
  renderAdminTodoEditPage,
  renderAdminTodosPage,
  renderAdminUsersPage,
  type AdminTodoEditValues,
  type AdminTodoFilterValues,
} from '../../views/admin-pages.ts';
import type { Problem, Viewer } from '../../views/pages.ts';
import { LastAdminError, usersRepository, type User } from '../accounts/repository.ts';
import { UpdateTodo } from '../todos/schemas.ts';
import { adminTodosRepository } from './repository.ts';

export interface AdminRouteOptions {
  db: Database;
  /** What every change to a user tells, so this process stops trusting what it remembers of them (plugins/auth.ts). */
  forgetLookups: () => void;
  viewerOf: (request: FastifyRequest, reply: FastifyReply) => Viewer | undefined;
}

const Form = <T extends TProperties>(fields: T) =>
  Type.Object({ ...fields, _csrf: Type.Optional(Type.String()) }, { additionalProperties: false });
const IdParams = Type.Object({ id: Type.String() });
const NoticeQuery = Type.Object(
  { notice: Type.Optional(Type.String({ maxLength: 30 })) },
  { additionalProperties: false },
);

const TodoListQuery = Type.Object(
  {
    q: Type.Optional(Type.String({ maxLength: 200 })),
    owner: Type.Optional(Type.String({ maxLength: 10 })),
    completed: Type.Optional(Type.Union([Type.Literal(''), Type.Literal('true'), Type.Literal('false')])),
    overdue: Type.Optional(Type.Literal('1')),
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    notice: Type.Optional(Type.String({ maxLength: 30 })),
  },
  { additionalProperties: false },
);

// title, notes and dueDate are always sent by the edit form; requiring them
// means a truncated post cannot silently blank a field. An unticked checkbox
// sends nothing, so a missing `completed` means "not completed".
const EditTodoForm = Form({
  title: Type.String(),
  notes: Type.String(),
  dueDate: Type.String(),
  completed: Type.Optional(Type.Literal('1')),
});
const validateUpdate = compileBodyValidator<UpdateTodo>(UpdateTodo);

// Notices are chosen from this list by key, so a crafted link cannot put words on the page.
// (A Map, so that `?notice=constructor` finds nothing.)
const NOTICES = new Map([
  ['saved', 'The todo was saved.'],
  ['deleted', 'The todo was deleted.'],
  ['disable', 'The user was disabled and logged out everywhere.'],
  ['enable', 'The user was enabled.'],
  ['grant-admin', 'Admin rights were granted.'],
  ['revoke-admin', 'Admin rights were revoked.'],
]);
const noticeFor = (key: string | undefined) => (key === undefined ? undefined : NOTICES.get(key));

interface UserAction {
  apply(db: Database, id: number): Promise<boolean>;
  /** Set for the actions an admin may not take on themself (so someone always remains able to administer). */
  refusedForSelf?: string;
}

const USER_ACTIONS: Record<string, UserAction> = {
  disable: {
    apply: (db, id) => usersRepository.setDisabled(db, id, true),
    refusedForSelf: 'You cannot disable your own account.',
  },
  enable: { apply: (db, id) => usersRepository.setDisabled(db, id, false) },
  'grant-admin': { apply: (db, id) => usersRepository.setAdmin(db, id, true) },
  'revoke-admin': {
    apply: (db, id) => usersRepository.setAdmin(db, id, false),
    refusedForSelf: 'You cannot revoke your own admin rights.',
  },
};

export const adminRoutes: FastifyPluginAsyncTypebox<AdminRouteOptions> = async (app, options) => {
  // A prefix of its own, so that unknown URLs under /admin also pass the gate below.
  await app.register(adminArea, { ...options, prefix: '/admin' });
};

const adminArea: FastifyPluginAsyncTypebox<AdminRouteOptions> = async (app, { db, viewerOf, forgetLookups }) => {
  // Runs before body parsing, validation and the CSRF check, so a non-admin's
  // POST is answered exactly like a GET of a page that does not exist. API
  // tokens never reach the admin area, even an admin's. Unknown URLs under
  // /admin stop here too (for admins as well), before the CSRF check could
  // answer 403 for them.
  app.addHook('onRequest', async (request) => {
    if (request.is404 || !request.user?.isAdmin || request.authMethod !== 'session') throw notFound();
  });
  // Only so that this scope's hook runs for unknown /admin URLs; the hook has already answered.
  app.setNotFoundHandler(async () => {
    throw notFound();
  });

  const adminOf = (request: FastifyRequest, reply: FastifyReply): { viewer: Viewer; self: User } => {
    const viewer = viewerOf(request, reply);
    if (!viewer || !request.user) throw notFound();
    return { viewer, self: request.user };
  };

  const todoOr404 = async (rawId: string) => {
    const id = parseRowId(rawId);
    const todo = id === undefined ? undefined : await adminTodosRepository.getAny(db, id);
    if (!todo) throw notFound();
    return todo;
  };

  // '' is /admin itself ('/' would be /admin/).
  app.get('', { schema: { querystring: TodoListQuery } }, async (request, reply) => {
    const { viewer } = adminOf(request, reply);
    const query = request.query;
    const filters: AdminTodoFilterValues = {
      q: query.q ?? '',
      owner: query.owner ?? '',
      completed: query.completed ?? '',
      overdue: query.overdue === '1',
    };
    const ownerId = filters.owner === '' ? undefined : parseRowId(filters.owner);
    if (filters.owner !== '' && ownerId === undefined) {
      throw new HttpError(400, 'Invalid query parameter', [{ field: 'owner', message: 'is not a user id' }]);
    }
    const page = query.page ?? 1;
    const text = filters.q.trim();
    const [result, users] = await Promise.all([
      adminTodosRepository.search(
        db,
        {
          ...(text ? { text } : {}),
          ...(ownerId !== undefined ? { ownerId } : {}),
          ...(filters.completed ? { completed: filters.completed === 'true' } : {}),
          overdue: filters.overdue,
        },
        page,
      ),
      usersRepository.listWithTodoCounts(db),
    ]);
    return sendHtml(
      reply,
      200,
      renderAdminTodosPage(viewer, {
        todos: result.todos,
        users,
        filters,
        page,
        hasMore: result.hasMore,
        notice: noticeFor(query.notice),
      }),
    );
  });

  app.get('/todos/:id', { schema: { params: IdParams, querystring: NoticeQuery } }, async (request, reply) => {
    const { viewer } = adminOf(request, reply);
    const todo = await todoOr404(request.params.id);
    return sendHtml(reply, 200, renderAdminTodoEditPage(viewer, todo, { notice: noticeFor(request.query.notice) }));
  });

  app.post('/todos/:id', { schema: { params: IdParams, body: EditTodoForm } }, async (request, reply) => {
    const { viewer } = adminOf(request, reply);
    const todo = await todoOr404(request.params.id);
    const { body } = request;
    // The same rules as the API: the title trimmed, an empty date field means no due date.
    const changes = {
      title: body.title.trim(),
      notes: body.notes,
      dueDate: body.dueDate.trim() || null,
      completed: body.completed === '1',
    };
    const values: AdminTodoEditValues = { ...changes, dueDate: changes.dueDate ?? '' };
    if (!validateUpdate(changes)) {
      const problem: Problem = {
        error: 'The todo was not saved',
        details: describeValidationErrors(validateUpdate.errors ?? []),
      };
      return sendHtml(reply, 400, renderAdminTodoEditPage(viewer, todo, { values, problem }));
    }
    if (!(await adminTodosRepository.updateAny(db, todo.id, changes))) throw notFound();
    return reply.redirect(`/admin/todos/${todo.id}?notice=saved`, 303);
  });

  app.post('/todos/:id/delete', { schema: { params: IdParams, body: Form({}) } }, async (request, reply) => {
    adminOf(request, reply);
    const id = parseRowId(request.params.id);
    if (id === undefined || !(await adminTodosRepository.deleteAny(db, id))) throw notFound();
    return reply.redirect('/admin?notice=deleted', 303);
  });

  const usersPage = async (
    reply: FastifyReply,
    viewer: Viewer,
    self: User,
    status: number,
    extra: { problem?: Problem; notice?: string } = {},
  ) =>
    sendHtml(
      reply,
      status,
      renderAdminUsersPage(viewer, await usersRepository.listWithTodoCounts(db), { selfId: self.id, ...extra }),
    );

  app.get('/users', { schema: { querystring: NoticeQuery } }, async (request, reply) => {
    const { viewer, self } = adminOf(request, reply);
    return usersPage(reply, viewer, self, 200, { notice: noticeFor(request.query.notice) });
  });

  // The server the app is connected to and its standbys, as `todoapp replication-status` prints them.
  app.get(
    '/replication',
    { schema: { querystring: Type.Object({}, { additionalProperties: false }) } },
    async (request, reply) => {
      const { viewer } = adminOf(request, reply);
      const status = db.engine === 'embedded' ? undefined : await readReplicationStatus(db);
      return sendHtml(reply, 200, renderAdminReplicationPage(viewer, status));
    },
  );

  for (const [name, action] of Object.entries(USER_ACTIONS)) {
    app.post(`/users/:id/${name}`, { schema: { params: IdParams, body: Form({}) } }, async (request, reply) => {
      const { viewer, self } = adminOf(request, reply);
      const id = parseRowId(request.params.id);
      if (id === undefined) throw notFound();
      if (id === self.id && action.refusedForSelf) {
        return usersPage(reply, viewer, self, 400, { problem: { error: action.refusedForSelf } });
      }
      try {
        if (!(await action.apply(db, id))) throw notFound();
        forgetLookups(); // a disabled user, or rights revoked, is refused from the next request on
      } catch (error) {
        if (error instanceof LastAdminError)
          return usersPage(reply, viewer, self, 400, { problem: { error: error.message } });
        throw error;
      }
      return reply.redirect(`/admin/users?notice=${name}`, 303);
    });
  }
};
