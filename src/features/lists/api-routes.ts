// The JSON API under /api/lists: a person's lists, and sharing them. The
// todos of a list are the todos API's (todos/api-routes.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Database, Queryable } from '../../db/database.ts';
import { requireApiUser } from '../../plugins/auth.ts';
import { HttpError, notFound } from '../../plugins/errors.ts';
import type { WriteOnce, WriteOutcome } from '../../plugins/idempotency.ts';
import { ErrorResponse } from '../todos/schemas.ts';
import { access, forbidden, listIdOf, listRefusal } from './access.ts';
import { ListRuleError, listsRepository } from './repository.ts';
import { CreateList, List, ListIdParams, listJson, Member, MemberParams, ShareList, UpdateList } from './schemas.ts';

export interface ListApiOptions {
  db: Database;
  writeOnce: WriteOnce;
}

/** A rule of lists broken (the Inbox kept, no such account): 400 or 409 naming the field. */
function ruleError(error: unknown): never {
  if (error instanceof ListRuleError)
    throw new HttpError(error.field === 'username' ? 400 : 409, error.message, [
      { field: error.field, message: error.message },
    ]);
  throw error;
}

const errors = { 400: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

export const listApiRoutes: FastifyPluginAsyncTypebox<ListApiOptions> = async (app, { db, writeOnce }) => {
  const tags = ['lists'];
  const base = (request: FastifyRequest) => request.publicOrigin;

  /**
   * A write to a list only its owner makes: `work` answers what it changed,
   * or nothing when it changed nothing (then a member is told `refused`, 403,
   * and anyone else that there is no such list, 404).
   */
  const asOwner = <T>(
    request: FastifyRequest<{ Params: { listId: string } }>,
    reply: FastifyReply,
    refused: string,
    work: (tx: Queryable, userId: number, listId: number) => Promise<T | undefined>,
    answer: (changed: T) => WriteOutcome,
  ) =>
    writeOnce(request, reply, async (tx) => {
      const userId = requireApiUser(request).id;
      const listId = listIdOf(request.params);
      const changed = await work(tx, userId, listId).catch(ruleError);
      if (changed === undefined) throw await listRefusal(tx, userId, listId, refused);
      return answer(changed);
    });

  // A name's surrounding whitespace is not part of it (as a todo's title).
  app.addHook('preValidation', async (request) => {
    const body = request.body as { name?: unknown } | undefined;
    if (body && typeof body === 'object' && typeof body.name === 'string') body.name = body.name.trim();
  });

  app.get(
    '/lists',
    {
      schema: {
        tags,
        summary: 'The lists the caller can see: their own, then those shared with them',
        response: { 200: Type.Array(List) },
      },
    },
    async (request) => {
      const user = requireApiUser(request);
      return (await listsRepository.visibleTo(db, user.id)).map((list) => listJson(list, base(request)));
    },
  );

  app.post(
    '/lists',
    { schema: { tags, summary: 'Create a list', body: CreateList, response: { 201: List, ...errors } } },
    (request, reply) =>
      writeOnce(request, reply, async (tx) => {
        const list = listJson(
          await listsRepository.create(tx, requireApiUser(request).id, request.body.name),
          base(request),
        );
        return { status: 201, headers: { location: list.url }, body: list };
      }),
  );

  app.get(
    '/lists/:listId',
    { schema: { tags, summary: 'Read one list', params: ListIdParams, response: { 200: List, ...errors } } },
    async (request) => {
      const list = await listsRepository.get(db, requireApiUser(request).id, listIdOf(request.params));
      if (!list) throw notFound('List not found');
      return listJson(list, base(request));
    },
  );

  app.patch(
    '/lists/:listId',
    {
      schema: {
        tags,
        summary: 'Rename, reorder or archive a list (its owner only)',
        params: ListIdParams,
        body: UpdateList,
        response: { 200: List, ...errors },
      },
    },
    (request, reply) =>
      asOwner(
        request,
        reply,
        'Only the owner changes a list',
        (tx, userId, listId) => listsRepository.update(tx, userId, listId, request.body),
        (list) => ({ status: 200, body: listJson(list, base(request)) }),
      ),
  );

  app.delete(
    '/lists/:listId',
    {
      schema: {
        tags,
        summary: 'Delete a list with its todos (its owner only; the Inbox stays)',
        params: ListIdParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    (request, reply) =>
      asOwner(
        request,
        reply,
        'Only the owner deletes a list',
        async (tx, userId, listId) => ((await listsRepository.delete(tx, userId, listId)) ? true : undefined),
        () => ({ status: 204 }),
      ),
  );

  app.get(
    '/lists/:listId/members',
    {
      schema: {
        tags,
        summary: 'Who a list is shared with, and as what',
        params: ListIdParams,
        response: { 200: Type.Array(Member), ...errors },
      },
    },
    async (request) => {
      const listId = listIdOf(request.params);
      if (!(await access.roleInList(db, requireApiUser(request).id, listId))) throw notFound('List not found');
      return listsRepository.members(db, listId);
    },
  );

  app.put(
    '/lists/:listId/members/:username',
    {
      schema: {
        tags,
        summary: 'Share a list with an account, or change its role (the owner only)',
        params: MemberParams,
        body: ShareList,
        response: { 200: Member, ...errors },
      },
    },
    (request, reply) =>
      asOwner(
        request,
        reply,
        'Only the owner shares a list',
        (tx, userId, listId) => listsRepository.share(tx, userId, listId, request.params.username, request.body.role),
        (member) => ({ status: 200, body: member }),
      ),
  );

  app.delete(
    '/lists/:listId/members/:username',
    {
      schema: {
        tags,
        summary: 'Revoke a member (the owner), or leave a list (the member themself)',
        params: MemberParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    (request, reply) =>
      writeOnce(request, reply, async (tx) => {
        const listId = listIdOf(request.params);
        const outcome = await listsRepository.unshare(tx, requireApiUser(request).id, listId, request.params.username);
        if (outcome === 'not-found') throw notFound('List not found');
        if (outcome === 'forbidden') throw forbidden('Only the owner takes someone else off a list');
        if (outcome === 'not-member') throw notFound(`${request.params.username} is not a member of this list`);
        return { status: 204 };
      }),
  );
};
