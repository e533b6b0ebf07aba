// The server-rendered list pages (/, /active, /completed) and their form
// posts. Every action is POST-redirect-GET back to the page it came from, so
// everything works without JavaScript.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TProperties } from 'typebox';
import type { Database, Queryable } from '../../db/database.ts';
import { parseRowId } from '../../db/sql.ts';
import type { AppCaches } from '../../plugins/caches.ts';
import { notFound } from '../../plugins/errors.ts';
import { pagePersonOf, requirePageSession, type ViewerOf } from '../../plugins/page-session.ts';
import type { WriteOnce } from '../../plugins/idempotency.ts';
import { sendHtml } from '../../plugins/html-reply.ts';
import { redirectTarget } from '../../plugins/redirects.ts';
import { compileBodyValidator, describeValidationErrors } from '../../plugins/validation.ts';
import type { Problem, Viewer } from '../../views/pages.ts';
import { acceptsGzip, deflatePart, gzipParts, partsOf } from '../../views/gzip-parts.ts';
import {
  FILTER_PATHS,
  isReadOnly,
  listPaths,
  overdueIds,
  renderEditTodoPage,
  renderTodoItems,
  renderTodoListPageAround,
  todoItemsKey,
  type ListPages,
  type ListView,
  type TodoFilter,
} from '../../views/todo-pages.ts';
import { formatPosition } from '../events/repository.ts';
import type { ChangeFeed } from '../events/feed.ts';
import { access, listRefusal, mayEdit, todoRefusal } from '../lists/access.ts';
import { listsRepository, type ListRecord } from '../lists/repository.ts';
import { todosRepository, versionsOf, type TodoScope, type TodoSort } from './repository.ts';
import { CreateTodo, UpdateTodo } from './schemas.ts';

export interface TodoPageOptions {
  db: Database;
  writeOnce: WriteOnce;
  viewerOf: ViewerOf;
  /** The app's caches: the page's kept items, and what they are rendered through. */
  caches: Pick<AppCaches, 'listItems' | 'itemMarkup' | 'readableDates' | 'listsSeen' | 'pageParts'>;
  /** Where the list page's script follows changes from (its position, in the page). */
  feed: ChangeFeed;
}

const validateCreate = compileBodyValidator<CreateTodo>(CreateTodo);
const validateUpdate = compileBodyValidator<UpdateTodo>(UpdateTodo);

/** A page form's body: its fields, and the hidden ones every form of the pages sends (lists/page-routes.ts uses it too). */
export const Form = <T extends TProperties>(fields: T) =>
  Type.Object(
    {
      ...fields,
      _csrf: Type.Optional(Type.String()),
      _idempotency: Type.Optional(Type.String()),
      returnTo: Type.Optional(Type.String()),
    },
    { additionalProperties: false },
  );
const field = () => Type.Optional(Type.String({ maxLength: 110_000 }));
/** Far beyond any list (10 million todos), so a page number is never a reason to scan. */
const MAX_PAGE = 100_000;
const IdParams = Type.Object({ id: Type.String() });
const ListParams = Type.Object({ listId: Type.String() });
const ListQuery = Type.Object({
  q: Type.Optional(Type.String()),
  sort: Type.Optional(Type.String()),
  // A bad page is a 400 naming `page`, not the first page: a link that is wrong should say so.
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE })),
});
type ListQuery = { q?: string; sort?: string; page?: number };

/**
 * The list page shows this many todos, newest (or as sorted) first, with
 * links to the pages before and after: a person with 10,000 todos gets a
 * first page as fast as one with a hundred, and the rest without JavaScript.
 */
export const PAGE_SIZE = 100;

const SORTS: TodoSort[] = ['newest', 'due', 'order'];

/** Where the list's pages are, for the links between them: the same filter, search and sort, another page. */
function pagesOf(
  paths: Record<TodoFilter, string>,
  filter: TodoFilter,
  query: ListQuery,
  page: number,
  total: number,
): ListPages {
  const href = (number: number) => {
    const params = new URLSearchParams();
    if (query.q !== undefined && query.q !== '') params.set('q', query.q);
    if (query.sort !== undefined) params.set('sort', query.sort);
    if (number > 1) params.set('page', String(number));
    const search = params.toString();
    return search === '' ? paths[filter] : `${paths[filter]}?${search}`;
  };
  const first = (page - 1) * PAGE_SIZE + 1;
  return {
    first,
    last: Math.min(total, page * PAGE_SIZE),
    total,
    previous: page > 1 ? href(Math.min(page - 1, Math.max(1, Math.ceil(total / PAGE_SIZE)))) : undefined,
    next: page * PAGE_SIZE < total ? href(page + 1) : undefined,
  };
}

const LIST_PATHS = new Set<string>(Object.values(FILTER_PATHS));
const OTHER_LIST_PATH = /^\/lists\/\d{1,10}(?:\/active|\/completed)?$/;

/** Only this app's list pages (with their query), so a form cannot be turned into an open redirect. */
export function safeReturn(request: FastifyRequest, returnTo: string | undefined): string {
  const target = redirectTarget(returnTo, request.publicOrigin);
  const path = target.split('?')[0] ?? '';
  return LIST_PATHS.has(path) || OTHER_LIST_PATH.test(path) ? target : '/';
}

/** Form fields arrive as text; an empty date means "no due date". */
function todoInput(body: { title?: string; dueDate?: string; notes?: string }) {
  return {
    title: (body.title ?? '').trim(),
    dueDate: body.dueDate?.trim() ? body.dueDate.trim() : null,
    // Browsers send a textarea's line breaks as CRLF; the API (and the script) store LF.
    notes: (body.notes ?? '').replace(/\r\n?/g, '\n'),
  };
}

function formProblem(
  error: string,
  errors: Parameters<typeof describeValidationErrors>[0] | null | undefined,
): Problem {
  return { error, details: describeValidationErrors(errors ?? []) };
}

export const todoPageRoutes: FastifyPluginAsyncTypebox<TodoPageOptions> = async (
  app,
  { db, writeOnce, viewerOf, caches, feed },
) => {
  /** Makes the change once (see plugins/idempotency.ts), then sends the browser back to its page. */
  const changeThenReturn = (
    request: FastifyRequest<{ Body: { returnTo?: string } }>,
    reply: FastifyReply,
    change: (tx: Queryable) => Promise<unknown>,
  ) => {
    // Worked out before the change: nothing about the target can fail once it is committed.
    const location = safeReturn(request, request.body.returnTo);
    return writeOnce(request, reply, async (tx) => {
      await change(tx);
      return { status: 303, headers: { location } };
    });
  };

  // The database's today, which "overdue" is measured against, changes once a
  // day: asked at most once a second instead of with every page.
  let askedToday: { at: number; today: Promise<string> } | undefined;
  const databaseToday = (): Promise<string> => {
    if (!askedToday || performance.now() - askedToday.at >= 1000) {
      const today = todosRepository.today(db);
      askedToday = { at: performance.now(), today };
      today.catch(() => {
        if (askedToday?.today === today) askedToday = undefined;
      });
    }
    return askedToday.today;
  };

  /** The logged-in person and their scope, or undefined after sending them to log in. */
  const personOf = (request: FastifyRequest, reply: FastifyReply): { viewer: Viewer; scope: TodoScope } | undefined => {
    const person = pagePersonOf(viewerOf, request, reply);
    return person && { viewer: person.viewer, scope: { userId: person.user.id, listId: person.user.inboxId } };
  };

  // The gate of every route here (plugins/page-session.ts); the handlers then find the person with personOf.
  requirePageSession(app, viewerOf);

  /**
   * A list's items (most of its page), compressed once per version of the
   * list: keyed by the rows' ids and versions (new with every committed
   * change, whoever makes it), so a kept one is never stale, and no person's
   * key can be another's. In the app's list_items cache (plugins/caches.ts).
   */
  const listItems = caches.listItems;

  /**
   * The list a page is of, seen by the person: the Inbox (no `listId`), or
   * another they may see; with every list they can see, for the column. A
   * stranger's list, or none, is 404. The lists are kept for a second under
   * the feed's stamp, which changes with every change to any list
   * (docs/caching.md): the page's own counts replace the shown list's.
   */
  const listOf = async (
    person: { scope: TodoScope },
    listId: string | undefined,
  ): Promise<{ list: ListRecord; lists: ListRecord[]; scope: TodoScope }> => {
    const id = listId === undefined ? person.scope.listId : parseRowId(listId);
    const key = `${person.scope.userId}:${feed.stamp}`;
    let lists = caches.listsSeen.get(key);
    if (!lists) {
      lists = await listsRepository.visibleTo(db, person.scope.userId);
      caches.listsSeen.set(key, lists);
    }
    const list = lists.find((each) => each.id === id);
    if (!list) throw notFound('List not found');
    return { list, lists, scope: { userId: person.scope.userId, listId: list.id } };
  };

  const listPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    filter: TodoFilter,
    listId: string | undefined,
    status = 200,
    problem?: Problem,
    values?: object,
  ) => {
    const person = personOf(request, reply);
    if (!person) return reply;
    // Before anything is read: whatever the page shows is at least this new, so its script misses no change after it.
    const feedPosition = formatPosition(feed.position);
    const { list: shown, lists, scope } = await listOf(person, listId);
    const paths = listPaths(shown);
    const query = request.query as ListQuery;
    const sort = SORTS.find((candidate) => candidate === query.sort) ?? 'newest';
    const text = (query.q ?? '').trim().slice(0, 200);
    const page = query.page ?? 1;
    const offset = (page - 1) * PAGE_SIZE;
    const listed = {
      completed: filter === 'all' ? undefined : filter === 'completed',
      text,
      sort,
      limit: PAGE_SIZE,
      offset,
    };
    const returnTo = request.method === 'GET' ? safeReturn(request, request.url) : paths[filter];
    // The whole list's counts come with its page; a filtered one asks for them.
    const whole = filter === 'all' && text === '';

    // Compressed, the page is made of three parts (views/gzip-parts.ts): the
    // items, kept compressed while the list is the same, between the markup
    // before and after them, which hold this render's own tokens. A client
    // that takes no gzip gets the parts joined (and @fastify/compress then
    // compresses them with brotli if the client takes that).
    const gzip = acceptsGzip(request.headers['accept-encoding']);
    const [list, summary] = await Promise.all([
      todosRepository.pageVersionsIn(db, scope, listed),
      whole ? undefined : todosRepository.summaryIn(db, scope),
    ]);
    const counts = summary
      ? { active: summary.active, completed: summary.completed }
      : { active: list.total - list.totalCompleted, completed: list.totalCompleted };
    const pages = pagesOf(paths, filter, query, page, list.total);
    // Today matters to the items only (what is overdue), and the query gave it for the key.
    const view: ListView = {
      filter,
      sort,
      text,
      returnTo,
      counts,
      today: summary?.today ?? '',
      pages,
      // The column's lists may be a moment old (listOf); the shown one's count is this page's own.
      list: { ...shown, activeCount: counts.active },
      lists: lists.map((each) => (each.id === shown.id ? { ...each, activeCount: counts.active } : each)),
      feedPosition,
    };
    const readOnly = isReadOnly(view);
    let itemCount = list.count;
    let items = gzip ? listItems.get(todoItemsKey(sort, readOnly, list.versions, list.overdue)) : undefined;
    let markup: string | undefined;
    if (!items) {
      // The two queries are not one snapshot: the page shows, and keeps under their own key, the todos of the second.
      const todos = await todosRepository.listIn(db, scope, listed);
      view.today = summary?.today ?? (await databaseToday());
      itemCount = todos.length;
      markup = renderTodoItems(todos, view, caches);
      if (gzip) {
        items = deflatePart(Buffer.from(markup));
        listItems.set(todoItemsKey(sort, readOnly, versionsOf(todos), overdueIds(todos, view.today)), items);
      }
    }
    const { before, after, perResponse } = renderTodoListPageAround(person.viewer, itemCount, view, {
      problem,
      values,
    });
    if (!items) return sendHtml(reply, status, before + markup + after);
    // Around the items, what is the same from one response to the next is deflated once and kept (page_parts).
    const around = (text: string) => partsOf(text, perResponse, caches.pageParts);
    reply.header('content-encoding', 'gzip').header('vary', 'accept-encoding');
    return sendHtml(reply, status, gzipParts([...around(before), items, ...around(after)]));
  };

  const SUFFIXES: Record<TodoFilter, string> = { all: '', active: '/active', completed: '/completed' };
  for (const filter of Object.keys(FILTER_PATHS) as TodoFilter[]) {
    app.get(FILTER_PATHS[filter], { schema: { querystring: ListQuery } }, (request, reply) =>
      listPage(request, reply, filter, undefined),
    );
    app.get(
      `/lists/:listId${SUFFIXES[filter]}`,
      { schema: { params: ListParams, querystring: ListQuery } },
      (request, reply) => listPage(request, reply, filter, request.params.listId),
    );
  }

  /**
   * The list-wide forms, for the Inbox at /todos… and for another list at
   * /lists/{id}/todos…: the same handlers, the list from the path. A write
   * that changed nothing in a list the person cannot change is refused
   * (access.ts's listRefusal): 403 to a viewer, 404 to a stranger.
   */
  const scopeFor = (person: { scope: TodoScope }, listId: string | undefined): TodoScope => {
    if (listId === undefined) return person.scope;
    const id = parseRowId(listId);
    if (id === undefined) throw notFound('List not found');
    return { userId: person.scope.userId, listId: id };
  };
  const mayChange = async (tx: Queryable, scope: TodoScope) => {
    if (!(await access.roleInList(tx, scope.userId, scope.listId).then(mayEdit)))
      throw await listRefusal(tx, scope.userId, scope.listId, 'This list is read-only for you');
  };

  for (const prefix of ['', '/lists/:listId']) {
    /** The path's list id, on the routes that have one. */
    const params = prefix === '' ? {} : { params: ListParams };
    type Params = { listId?: string };

    app.post(
      `${prefix}/todos`,
      { schema: { ...params, body: Form({ title: field(), dueDate: field(), notes: field() }) } },
      async (request, reply) => {
        const person = personOf(request, reply);
        if (!person) return reply;
        const listId = (request.params as Params).listId;
        const scope = scopeFor(person, listId);
        const input = todoInput(request.body);
        const valid: boolean = validateCreate(input); // a plain boolean: no type narrowing of `input`
        if (!valid) {
          const back = safeReturn(request, request.body.returnTo).split('?')[0];
          const filter =
            (Object.keys(SUFFIXES) as TodoFilter[]).find((key) => back?.endsWith(SUFFIXES[key]) && SUFFIXES[key]) ??
            'all';
          return listPage(
            request,
            reply,
            filter,
            listId,
            400,
            formProblem('The todo was not added', validateCreate.errors),
            {
              ...input,
              dueDate: input.dueDate ?? '',
            },
          );
        }
        return changeThenReturn(request, reply, async (tx) => {
          if (!(await todosRepository.createIn(tx, scope, input)))
            throw await listRefusal(tx, scope.userId, scope.listId, 'This list is read-only for you');
        });
      },
    );

    app.post(
      `${prefix}/todos/toggle-all`,
      { schema: { ...params, body: Form({ completed: Type.Union([Type.Literal('true'), Type.Literal('false')]) }) } },
      async (request, reply) => {
        const person = personOf(request, reply);
        if (!person) return reply;
        const scope = scopeFor(person, (request.params as Params).listId);
        return changeThenReturn(request, reply, async (tx) => {
          await mayChange(tx, scope);
          await todosRepository.setCompletedForAllIn(tx, scope, request.body.completed === 'true');
        });
      },
    );

    app.post(
      `${prefix}/todos/delete-selected`,
      {
        schema: {
          ...params,
          body: Form({
            ids: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 1000 })])),
          }),
        },
      },
      async (request, reply) => {
        const person = personOf(request, reply);
        if (!person) return reply;
        const scope = scopeFor(person, (request.params as Params).listId);
        const raw = request.body.ids === undefined ? [] : ([] as string[]).concat(request.body.ids);
        const ids = raw.map(parseRowId).filter((id): id is number => id !== undefined);
        return changeThenReturn(request, reply, async (tx) => {
          await mayChange(tx, scope);
          if (ids.length > 0) await todosRepository.deleteManyIn(tx, scope, ids);
        });
      },
    );

    app.post(`${prefix}/todos/clear-completed`, { schema: { ...params, body: Form({}) } }, async (request, reply) => {
      const person = personOf(request, reply);
      if (!person) return reply;
      const scope = scopeFor(person, (request.params as Params).listId);
      return changeThenReturn(request, reply, async (tx) => {
        await mayChange(tx, scope);
        await todosRepository.deleteCompletedIn(tx, scope);
      });
    });
  }

  app.post(
    '/todos/:id/toggle',
    {
      schema: {
        params: IdParams,
        body: Form({ completed: Type.Union([Type.Literal('true'), Type.Literal('false')]) }),
      },
    },
    async (request, reply) => {
      const person = personOf(request, reply);
      if (!person) return reply;
      const id = parseRowId(request.params.id);
      return changeThenReturn(request, reply, async (tx) => {
        if (id === undefined) throw notFound('Todo not found');
        const updated = await todosRepository.updateById(tx, person.scope, id, {
          completed: request.body.completed === 'true',
        });
        if (!updated) throw await todoRefusal(tx, person.scope.userId, id);
      });
    },
  );

  app.post(
    '/todos/:id/move',
    { schema: { params: IdParams, body: Form({ direction: Type.Union([Type.Literal('up'), Type.Literal('down')]) }) } },
    async (request, reply) => {
      const person = personOf(request, reply);
      if (!person) return reply;
      const id = parseRowId(request.params.id);
      return changeThenReturn(request, reply, async (tx) => {
        const moved =
          id === undefined ? undefined : await todosRepository.moveById(tx, person.scope, id, request.body.direction);
        if (moved === undefined) throw notFound('Todo not found');
      });
    },
  );

  app.post('/todos/:id/delete', { schema: { params: IdParams, body: Form({}) } }, async (request, reply) => {
    const person = personOf(request, reply);
    if (!person) return reply;
    const id = parseRowId(request.params.id);
    return changeThenReturn(request, reply, async (tx) => {
      if (id === undefined) throw notFound('Todo not found');
      if (!(await todosRepository.deleteById(tx, person.scope, id)))
        throw await todoRefusal(tx, person.scope.userId, id);
    });
  });

  /** A todo the person can see, by the id in the path; 404 when there is none. */
  const todoOf = async (person: { scope: TodoScope }, rawId: string) => {
    const id = parseRowId(rawId);
    const todo = id === undefined ? undefined : await todosRepository.getById(db, person.scope, id);
    if (!todo) throw notFound('Todo not found');
    return todo;
  };

  app.get(
    '/todos/:id/edit',
    { schema: { params: IdParams, querystring: Type.Object({ returnTo: Type.Optional(Type.String()) }) } },
    async (request, reply) => {
      const person = personOf(request, reply);
      if (!person) return reply;
      const todo = await todoOf(person, request.params.id);
      if (!mayEdit(await access.roleForTodo(db, person.scope.userId, todo.id)))
        throw await todoRefusal(db, person.scope.userId, todo.id);
      return sendHtml(reply, 200, renderEditTodoPage(person.viewer, todo, safeReturn(request, request.query.returnTo)));
    },
  );

  app.post(
    '/todos/:id',
    { schema: { params: IdParams, body: Form({ title: field(), dueDate: field(), notes: field() }) } },
    async (request, reply) => {
      const person = personOf(request, reply);
      if (!person) return reply;
      const todo = await todoOf(person, request.params.id);
      const returnTo = safeReturn(request, request.body.returnTo);
      const input = todoInput(request.body);
      // As in every good todo list: saving an empty title deletes the todo.
      const refuseUnless = async (tx: Queryable, done: unknown) => {
        if (!done) throw await todoRefusal(tx, person.scope.userId, todo.id);
      };
      if (input.title === '')
        return changeThenReturn(request, reply, async (tx) =>
          refuseUnless(tx, await todosRepository.deleteById(tx, person.scope, todo.id)),
        );
      const valid: boolean = validateUpdate(input);
      if (!valid) {
        const problem = formProblem('The todo was not saved', validateUpdate.errors);
        return sendHtml(
          reply,
          400,
          renderEditTodoPage(person.viewer, todo, returnTo, problem, { ...input, dueDate: request.body.dueDate ?? '' }),
        );
      }
      return changeThenReturn(request, reply, async (tx) =>
        refuseUnless(tx, await todosRepository.updateById(tx, person.scope, todo.id, input)),
      );
    },
  );
};
