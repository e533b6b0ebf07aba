// The pages' forms for lists: create one (from the lists column), and a
// list's settings page — rename, place, archive, share, delete, leave. Every
// action is POST-redirect-GET, so it all works without JavaScript. The list
// pages themselves (/lists/{id}…) are the todo pages' (todos/page-routes.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Database, Queryable } from '../../db/database.ts';
import { HttpError, notFound } from '../../plugins/errors.ts';
import type { WriteOnce } from '../../plugins/idempotency.ts';
import { sendHtml } from '../../plugins/html-reply.ts';
import { pagePersonOf, requirePageSession, type ViewerOf } from '../../plugins/page-session.ts';
import type { Problem, Viewer } from '../../views/pages.ts';
import { renderListSettingsPage } from '../../views/list-pages.ts';
import { listPaths } from '../../views/todo-pages.ts';
import { INT4_MAX, INT4_MIN } from '../todos/fields.ts';
import { Form } from '../todos/page-routes.ts';
import { forbidden, listIdOf, listRefusal } from './access.ts';
import { ListRuleError, listsRepository, type ListChanges } from './repository.ts';
import { LIST_NAME_MAX_LENGTH } from './schemas.ts';

export interface ListPageOptions {
  db: Database;
  writeOnce: WriteOnce;
  viewerOf: ViewerOf;
}

const text = () => Type.Optional(Type.String({ maxLength: 1000 }));
const ListParams = Type.Object({ listId: Type.String() });
const MemberParams = Type.Object({ listId: Type.String(), username: Type.String({ maxLength: 50 }) });

/** A list's name from a form: trimmed, 1–100 characters, or a problem naming `name`. */
function nameOf(raw: string | undefined): string | Problem {
  const name = (raw ?? '').trim();
  if (name.length >= 1 && name.length <= LIST_NAME_MAX_LENGTH) return name;
  return {
    error: 'The list was not saved',
    details: [{ field: 'name', message: `must be 1 to ${LIST_NAME_MAX_LENGTH} characters` }],
  };
}

export const listPageRoutes: FastifyPluginAsyncTypebox<ListPageOptions> = async (app, { db, writeOnce, viewerOf }) => {
  /** The logged-in person, or undefined after sending them to log in. */
  const personOf = (request: FastifyRequest, reply: FastifyReply) => {
    const person = pagePersonOf(viewerOf, request, reply);
    return person && { viewer: person.viewer, userId: person.user.id };
  };
  // The gate of every route here, as on the todo pages (plugins/page-session.ts).
  requirePageSession(app, viewerOf);

  /** Makes the change once, then sends the browser to `location` (or where the change says). */
  const changeThenGo = (request: FastifyRequest, reply: FastifyReply, change: (tx: Queryable) => Promise<string>) =>
    writeOnce(request, reply, async (tx) => ({ status: 303, headers: { location: await change(tx) } }));

  const settingsPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    person: { viewer: Viewer; userId: number },
    listId: number,
    status = 200,
    problem?: Problem,
  ) => {
    const list = await listsRepository.get(db, person.userId, listId);
    if (!list) throw notFound('List not found');
    const [members, total] = await Promise.all([
      list.role === 'owner' ? listsRepository.members(db, listId) : [],
      list.role === 'owner' ? listsRepository.todoCount(db, listId) : 0,
    ]);
    return sendHtml(reply, status, renderListSettingsPage(person.viewer, list, members, problem, total));
  };

  /** A broken rule of lists (no such account, the Inbox kept) shown on the settings page, 400. */
  const orProblem = async (
    request: FastifyRequest,
    reply: FastifyReply,
    person: { viewer: Viewer; userId: number },
    listId: number,
    work: () => Promise<unknown>,
  ) => {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof ListRuleError)) throw error;
      return settingsPage(request, reply, person, listId, 400, {
        error: error.message,
        details: [{ field: error.field, message: error.message }],
      });
    }
  };

  app.post('/lists', { schema: { body: Form({ name: text() }) } }, async (request, reply) => {
    const person = personOf(request, reply);
    if (!person) return reply;
    const name = nameOf(request.body.name);
    if (typeof name !== 'string') throw new HttpError(400, name.error, name.details);
    return changeThenGo(
      request,
      reply,
      async (tx) => listPaths(await listsRepository.create(tx, person.userId, name)).all,
    );
  });

  app.get('/lists/:listId/settings', { schema: { params: ListParams } }, async (request, reply) => {
    const person = personOf(request, reply);
    if (!person) return reply;
    return settingsPage(request, reply, person, listIdOf(request.params));
  });

  const update = (
    request: FastifyRequest<{ Params: { listId: string } }>,
    reply: FastifyReply,
    changes: ListChanges,
    person: { viewer: Viewer; userId: number },
  ) => {
    const listId = listIdOf(request.params);
    return orProblem(request, reply, person, listId, () =>
      changeThenGo(request, reply, async (tx) => {
        const list = await listsRepository.update(tx, person.userId, listId, changes);
        if (!list) throw await listRefusal(tx, person.userId, listId, 'Only the owner changes a list');
        return `/lists/${listId}/settings`;
      }),
    );
  };

  app.post(
    '/lists/:listId/settings',
    { schema: { params: ListParams, body: Form({ name: text(), position: text() }) } },
    async (request, reply) => {
      const person = personOf(request, reply);
      if (!person) return reply;
      const name = nameOf(request.body.name);
      if (typeof name !== 'string') return settingsPage(request, reply, person, listIdOf(request.params), 400, name);
      const raw = (request.body.position ?? '').trim();
      const position = raw === '' ? undefined : Number(raw);
      if (position !== undefined && !(Number.isInteger(position) && position >= INT4_MIN && position <= INT4_MAX))
        return settingsPage(request, reply, person, listIdOf(request.params), 400, {
          error: 'The list was not saved',
          details: [{ field: 'position', message: 'must be a whole number' }],
        });
      return update(request, reply, { name, position }, person);
    },
  );

  app.post(
    '/lists/:listId/move',
    {
      schema: { params: ListParams, body: Form({ direction: Type.Union([Type.Literal('up'), Type.Literal('down')]) }) },
    },
    async (request, reply) => {
      const person = personOf(request, reply);
      if (!person) return reply;
      const listId = listIdOf(request.params);
      return orProblem(request, reply, person, listId, () =>
        changeThenGo(request, reply, async (tx) => {
          if (!(await listsRepository.move(tx, person.userId, listId, request.body.direction)))
            throw await listRefusal(tx, person.userId, listId, 'Only the owner moves a list');
          return `/lists/${listId}/settings`;
        }),
      );
    },
  );

  app.post(
    '/lists/:listId/archive',
    {
      schema: {
        params: ListParams,
        body: Form({ archived: Type.Union([Type.Literal('true'), Type.Literal('false')]) }),
      },
    },
    async (request, reply) => {
      const person = personOf(request, reply);
      if (!person) return reply;
      return update(request, reply, { archived: request.body.archived === 'true' }, person);
    },
  );

  app.post(
    '/lists/:listId/delete',
    { schema: { params: ListParams, body: Form({ confirm: text() }) } },
    async (request, reply) => {
      const person = personOf(request, reply);
      if (!person) return reply;
      const listId = listIdOf(request.params);
      if (request.body.confirm !== 'yes')
        return settingsPage(request, reply, person, listId, 400, {
          error: 'The list was not deleted',
          details: [{ field: 'confirm', message: 'tick the box to confirm' }],
        });
      return orProblem(request, reply, person, listId, () =>
        changeThenGo(request, reply, async (tx) => {
          if (!(await listsRepository.delete(tx, person.userId, listId)))
            throw await listRefusal(tx, person.userId, listId, 'Only the owner deletes a list');
          return '/';
        }),
      );
    },
  );

  app.post(
    '/lists/:listId/members',
    {
      schema: {
        params: ListParams,
        body: Form({ username: text(), role: Type.Union([Type.Literal('editor'), Type.Literal('viewer')]) }),
      },
    },
    async (request, reply) => {
      const person = personOf(request, reply);
      if (!person) return reply;
      const listId = listIdOf(request.params);
      const username = (request.body.username ?? '').trim();
      return orProblem(request, reply, person, listId, () =>
        changeThenGo(request, reply, async (tx) => {
          const shared = await listsRepository.share(tx, person.userId, listId, username, request.body.role);
          if (!shared) throw await listRefusal(tx, person.userId, listId, 'Only the owner shares a list');
          return `/lists/${listId}/settings`;
        }),
      );
    },
  );

  app.post(
    '/lists/:listId/members/:username/remove',
    { schema: { params: MemberParams, body: Form({}) } },
    async (request, reply) => {
      const person = personOf(request, reply);
      if (!person) return reply;
      const listId = listIdOf(request.params);
      return changeThenGo(request, reply, async (tx) => {
        const outcome = await listsRepository.unshare(tx, person.userId, listId, request.params.username);
        if (outcome === 'not-found') throw notFound('List not found');
        if (outcome === 'forbidden') throw forbidden('Only the owner takes someone else off a list');
        if (outcome === 'not-member') throw notFound(`${request.params.username} is not a member of this list`);
        // Someone who left no longer sees the list: back to their Inbox.
        return request.params.username.toLowerCase() === person.viewer.username.toLowerCase()
          ? '/'
          : `/lists/${listId}/settings`;
      });
    },
  );
};
