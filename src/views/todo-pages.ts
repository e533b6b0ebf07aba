// The todo list page and the edit page. Every action is a plain form post, so
// the page works without JavaScript; accessible names are the contract tests
// and assistive technology rely on ("New todo", "Due date", a checkbox named
// by the todo's title, "Delete <title>", "Edit <title>", "Toggle all", …).
import { randomUUID } from 'node:crypto';
import type { ListRecord } from '../features/lists/repository.ts';
import type { TodoRecord, TodoSort } from '../features/todos/repository.ts';
import type { AppCaches } from '../plugins/caches.ts';
import { html, SafeHtml } from './html.ts';
import { csrfField, layout, problemBox, type Problem, type Viewer } from './pages.ts';

export type TodoFilter = 'all' | 'active' | 'completed';

/** The Inbox's pages. */
export const FILTER_PATHS: Record<TodoFilter, string> = { all: '/', active: '/active', completed: '/completed' };

/** A list's pages: the Inbox's at /, another's at /lists/{id}. */
export function listPaths(list: Pick<ListRecord, 'id' | 'isInbox'>): Record<TodoFilter, string> {
  if (list.isInbox) return FILTER_PATHS;
  const base = `/lists/${list.id}`;
  return { all: base, active: `${base}/active`, completed: `${base}/completed` };
}

/** Where a list's list-wide forms post (add, toggle all, clear completed, delete selected). */
export function listActions(list: Pick<ListRecord, 'id' | 'isInbox'>): string {
  return list.isInbox ? '/todos' : `/lists/${list.id}/todos`;
}
const FILTER_LABELS: Record<TodoFilter, string> = { all: 'All', active: 'Active', completed: 'Completed' };
const SORT_LABELS: Record<TodoSort, string> = { newest: 'Newest first', due: 'Due date', order: 'Manual order' };

export interface ListView {
  filter: TodoFilter;
  sort: TodoSort;
  text: string;
  /** This page's own URL, where form posts return. */
  returnTo: string;
  counts: { active: number; completed: number };
  today: string;
  /** Which of the list's todos this page shows, and the links to the pages around it. */
  pages: ListPages;
  /** The list shown, and every list the person can see (the navigation column). */
  list: ListRecord;
  lists: ListRecord[];
  /** The change feed's position when the page was made: the page's script follows the changes after it. */
  feedPosition: string;
}

/** A viewer's page shows the todos without the controls that change them (the server refuses them anyway). */
export function isReadOnly(view: Pick<ListView, 'list'>): boolean {
  return view.list.role === 'viewer';
}

export interface ListPages {
  /** The positions (from 1) of the page's first and last todo, of `total` in the list. */
  first: number;
  last: number;
  total: number;
  previous: string | undefined;
  next: string | undefined;
}

/** Plain links, so the rest of a long list is reachable without JavaScript; shown only when there is more than one page. */
function pageLinks(pages: ListPages): SafeHtml | string {
  if (pages.previous === undefined && pages.next === undefined) return '';
  const shown =
    pages.first > pages.last ? 'No todos on this page' : `Todos ${pages.first}–${pages.last} of ${pages.total}`;
  return html`<nav aria-label="Pages" class="pages">${pages.previous === undefined ? '' : html`<a href="${pages.previous}" rel="prev">Previous page</a> `}<span>${shown}</span>${
    pages.next === undefined ? '' : html` <a href="${pages.next}" rel="next">Next page</a>`
  }</nav>`;
}

const dateFormat = new Intl.DateTimeFormat('en', {
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  year: 'numeric',
  timeZone: 'UTC',
});

/** The app's caches a list's items are rendered through (plugins/caches.ts). */
export type ItemCaches = Pick<AppCaches, 'itemMarkup' | 'readableDates'>;

/** "Mon, 7 Dec 2026". Intl formatting costs microseconds, and a list shows the same few dates over and over: kept by ISO date. */
export function readableDate(isoDate: string, caches: ItemCaches): string {
  let readable = caches.readableDates.get(isoDate);
  if (readable === undefined) {
    readable = dateFormat.format(new Date(`${isoDate}T00:00:00Z`));
    caches.readableDates.set(isoDate, readable);
  }
  return readable;
}

/**
 * The hidden fields of a page's forms that change todos: the CSRF token,
 * where to return, and an idempotency key. The key is one random nonce per
 * rendered page, the same in every form: the server tells the forms apart by
 * what each asks for (method, URL, body; see plugins/idempotency.ts), so the
 * same form posted twice (a double click, a resend) changes things once, and
 * two different forms of the page are two changes.
 */
function formFields(viewer: Viewer, returnTo: string, nonce: string): SafeHtml {
  return html`${csrfField(viewer.csrfToken)}<input type="hidden" name="returnTo" value="${returnTo}"><input type="hidden" name="_idempotency" value="${nonce}">`;
}

/**
 * The shared forms every todo's buttons submit (with their `form` and
 * `formaction` attributes): one carrying the hidden fields of a post, one
 * the returnTo of the edit page. So a todo's markup holds nothing of the
 * render, the person or the page's URL, only of the todo.
 */
const TODO_ACTIONS_FORM = 'todo-actions';
const TODO_EDIT_FORM = 'todo-edit';

/**
 * A todo's markup: a pure function of the todo (its id, row version and
 * fields), whether it is overdue and whether the view is in manual order,
 * and kept by exactly those in the app's item_markup cache: rendering a todo
 * took some hundred small strings, and a todo changes far less often than its
 * list is shown. A todo whose markup is over the cache's per-entry limit
 * (notes of tens of KB) is rendered each time.
 */
function todoItemMarkup(todo: TodoRecord, view: ListView, caches: ItemCaches): string {
  const overdue = isOverdue(todo, view.today);
  const manualOrder = view.sort === 'order';
  const readOnly = isReadOnly(view);
  const key = itemKey(todo.id, todo.version, overdue, manualOrder, readOnly);
  let markup = caches.itemMarkup.get(key);
  if (markup === undefined) {
    markup = renderTodoItem(todo, overdue, manualOrder, readOnly, caches).value;
    caches.itemMarkup.set(key, markup);
  }
  return markup;
}

/** Due before today (the database's, YYYY-MM-DD) and not done. */
export function isOverdue(todo: Pick<TodoRecord, 'dueDate' | 'completed'>, today: string): boolean {
  return todo.dueDate !== null && !todo.completed && todo.dueDate < today;
}

function itemKey(id: number, version: string, overdue: boolean, manualOrder: boolean, readOnly: boolean): string {
  return `${id}:${version}:${overdue ? 1 : 0}${manualOrder ? 1 : 0}${readOnly ? 1 : 0}`;
}

/** The ids of the overdue todos, space-separated, in order (as ListVersions.overdue has them). */
export function overdueIds(todos: readonly TodoRecord[], today: string): string {
  return todos
    .filter((todo) => isOverdue(todo, today))
    .map((todo) => todo.id)
    .join(' ');
}

/**
 * The key of a list's items (renderTodoItems): what they are made of, so the
 * same key, the same markup. `versions` and `overdue` as ListVersions has them.
 */
export function todoItemsKey(sort: TodoSort, readOnly: boolean, versions: string, overdue: string): string {
  return `${sort}${readOnly ? ' read-only' : ''}|${versions}|${overdue}`;
}

/**
 * The `<li>`s of the list, the part of the page that goes inside
 * `<ul class="todos">`: the same bytes for the same todos (ids, row versions),
 * overdue days and sort, whoever looks and however often.
 */
export function renderTodoItems(todos: TodoRecord[], view: ListView, caches: ItemCaches): string {
  let items = '';
  for (const todo of todos) items += todoItemMarkup(todo, view, caches);
  return items;
}

// No whitespace between tags but the one space after the title, which shows;
// buttons are type="submit" by default.
function renderTodoItem(
  todo: TodoRecord,
  overdue: boolean,
  manualOrder: boolean,
  readOnly: boolean,
  caches: ItemCaches,
): SafeHtml {
  // data-action names what a button does for the page's script (src/client/app.ts); the <li>'s data-id says to which todo.
  const post = (verb: string) =>
    html`form="${TODO_ACTIONS_FORM}" formaction="/todos/${todo.id}/${verb}" data-action="${verb}"`;
  const checked = todo.completed ? 'true' : 'false';
  const controls = readOnly
    ? html`<span role="checkbox" aria-checked="${checked}" aria-readonly="true" aria-label="${todo.title}" class="check"></span>`
    : html`<button ${post('toggle')} name="completed" value="${todo.completed ? 'false' : 'true'}" role="checkbox" aria-checked="${checked}" aria-label="${todo.title}" class="check"></button><input type="checkbox" name="ids" value="${todo.id}" form="bulk" class="select" aria-label="Select ${todo.title}">`;
  const body = html`<div class="body"><span class="title">${todo.title}</span>${
    todo.dueDate
      ? html` <span class="due">Due <time datetime="${todo.dueDate}">${readableDate(todo.dueDate, caches)}</time>${overdue ? html` <strong class="overdue-flag">Overdue</strong>` : ''}</span>`
      : ''
  }${todo.notes ? html`<p class="notes">${todo.notes}</p>` : ''}</div>`;
  const item = `todo${todo.completed ? ' completed' : ''}${overdue ? ' overdue' : ''}`;
  if (readOnly) return html`<li class="${item}" data-id="${todo.id}">${controls}${body}</li>`;
  return html`<li class="${item}" data-id="${todo.id}">${controls}${body}<div class="actions">${
    manualOrder
      ? html`<button ${post('move')} name="direction" value="up" aria-label="Move ${todo.title} up">↑</button><button ${post('move')} name="direction" value="down" aria-label="Move ${todo.title} down">↓</button>`
      : ''
  }<button form="${TODO_EDIT_FORM}" formaction="/todos/${todo.id}/edit" data-action="edit" aria-label="Edit ${todo.title}">Edit</button><button ${post('delete')} class="danger" aria-label="Delete ${todo.title}">Delete</button></div></li>`;
}

/** Where the todos go in the page around them, while that is rendered. Escaped values never hold a "<", so nothing a person typed can look like it. */
const TODO_ITEMS = '<!--todo-items-->';

type ListPageOptions = { problem?: Problem; values?: { title?: string; dueDate?: string; notes?: string } };

/**
 * The list page without its items, as the markup before and after where
 * `renderTodoItems` goes, for a list of `itemCount` todos. It holds all of
 * the render's own data, which `perResponse` names (the CSRF token, the
 * idempotency nonce, the feed position: what makes one response's bytes
 * differ from the next one's for the same list); the rest is the same while
 * the list, its column and the URL are.
 */
export function renderTodoListPageAround(
  viewer: Viewer,
  itemCount: number,
  view: ListView,
  options: ListPageOptions = {},
): { before: string; after: string; perResponse: string[] } {
  // randomUUID draws from a pool of random bytes; randomBytes asks the system each time.
  const nonce = randomUUID();
  const page = renderListPageAround(viewer, itemCount, view, options, nonce);
  const [before = '', after = '', ...rest] = page.split(TODO_ITEMS);
  if (rest.length > 0) throw new Error('the list page has its items placeholder twice');
  return { before, after, perResponse: [viewer.csrfToken, nonce, feedPositionAttribute(view)] };
}

function feedPositionAttribute(view: ListView): string {
  return html`data-feed-position="${view.feedPosition}"`.value;
}

/** The lists column: the person's lists and those shared with them, each with its count of active todos, and a form for a new one. */
function listsNav(view: ListView, back: SafeHtml): SafeHtml {
  const link = (list: ListRecord) =>
    html`<li><a href="${listPaths(list).all}"${list.id === view.list.id ? html` aria-current="page"` : ''}>${list.name}</a> <span class="count" aria-label="${list.activeCount} active">${list.activeCount}</span>${
      list.role === 'owner' ? '' : html` <span class="owner">(${list.owner})</span>`
    }</li>`;
  const shown = view.lists.filter((list) => !list.archived);
  const archived = view.lists.filter((list) => list.archived);
  return html`<details class="lists" open><summary>Lists</summary><nav aria-label="Lists"><ul>${shown.map(link)}</ul>${
    archived.length > 0
      ? html`<details class="archived"><summary>Archived (${archived.length})</summary><ul>${archived.map(link)}</ul></details>`
      : ''
  }<form method="post" action="/lists" class="new-list">${back}<label>New list <input name="name" required maxlength="100" autocomplete="off"></label> <button type="submit">Create</button></form></nav></details>`;
}

/** Who the list belongs to and what the person may do with it, with the way to its settings. */
function listHeading(view: ListView): SafeHtml {
  const { list } = view;
  const about =
    list.role === 'owner'
      ? ''
      : html`<p class="shared">Shared by ${list.owner}; you ${list.role === 'viewer' ? 'can view it' : 'can edit its todos'}.</p>`;
  return html`<h1>${list.name}</h1>${about}<p class="list-links"><a href="/lists/${list.id}/settings">List settings${list.role === 'owner' ? ' and sharing' : ''}</a></p>`;
}

function renderListPageAround(
  viewer: Viewer,
  itemCount: number,
  view: ListView,
  options: ListPageOptions,
  nonce: string,
): string {
  const back = formFields(viewer, view.returnTo, nonce);
  const total = view.counts.active + view.counts.completed;
  const allDone = total > 0 && view.counts.active === 0;
  const values = options.values ?? {};
  const paths = listPaths(view.list);
  const actions = listActions(view.list);
  const readOnly = isReadOnly(view);
  const name = view.list.name;
  return layout(
    view.filter === 'all' ? name : `${FILTER_LABELS[view.filter]} · ${name}`,
    html`<div class="with-lists" data-list-id="${view.list.id}" ${new SafeHtml(feedPositionAttribute(view))}>
${listsNav(view, back)}
<section class="list">
${listHeading(view)}
${problemBox(options.problem)}
${
  readOnly
    ? ''
    : html`<form class="add" method="post" action="${actions}" data-action="add">
  ${back}
  <label class="grow">New todo <input name="title" required maxlength="250" autofocus autocomplete="off" value="${values.title ?? ''}"></label>
  <label>Due date <input name="dueDate" type="date" value="${values.dueDate ?? ''}"></label>
  <label class="full">Notes <textarea name="notes" rows="2">${values.notes ?? ''}</textarea></label>
  <button type="submit">Add</button>
</form>`
}
<form class="view" method="get" action="${paths[view.filter]}" role="search">
  <label>Search <input type="search" name="q" value="${view.text}"></label>
  <span class="sort"><label for="sort">Sort</label> <select id="sort" name="sort">${(
    Object.keys(SORT_LABELS) as TodoSort[]
  ).map(
    (sort) => html`<option value="${sort}"${view.sort === sort ? html` selected` : ''}>${SORT_LABELS[sort]}</option>`,
  )}</select></span>
  <button type="submit">Apply</button>
</form>
<nav aria-label="Filter todos"><ul class="filters">${(Object.keys(paths) as TodoFilter[]).map(
      (filter) =>
        html`<li><a href="${paths[filter]}"${view.filter === filter ? html` aria-current="page"` : ''}>${FILTER_LABELS[filter]}</a></li>`,
    )}</ul></nav>
${
  total > 0 && !readOnly
    ? html`<form method="post" action="${actions}/toggle-all" class="toggle-all" data-action="toggle-all">${back}<input type="hidden" name="completed" value="${allDone ? 'false' : 'true'}">
  <button type="submit" role="checkbox" aria-checked="${allDone ? 'true' : 'false'}" class="check">Toggle all</button></form>`
    : ''
}
${
  itemCount === 0
    ? html`<p class="empty">${total === 0 ? (readOnly ? 'Nothing to do here yet.' : 'Nothing to do yet. Add your first todo above.') : view.text ? 'No todo matches your search.' : `No ${FILTER_LABELS[view.filter].toLowerCase()} todos.`}</p>`
    : html`<ul class="todos" aria-label="Todos">${new SafeHtml(TODO_ITEMS)}</ul>
${
  readOnly
    ? ''
    : html`<form id="${TODO_ACTIONS_FORM}" method="post" hidden>${back}</form>
<form id="${TODO_EDIT_FORM}" method="get" hidden><input type="hidden" name="returnTo" value="${view.returnTo}"></form>
<form id="bulk" method="post" action="${actions}/delete-selected" class="bulk" data-action="delete-selected">${back}<button type="submit">Delete selected</button></form>`
}`
}
${pageLinks(view.pages)}
<footer class="list-footer">
  <span class="count" role="status">${view.counts.active} ${view.counts.active === 1 ? 'item' : 'items'} left</span>
  ${view.counts.completed > 0 && !readOnly ? html`<form method="post" action="${actions}/clear-completed" class="inline" data-action="clear-completed">${back}<button type="submit">Clear completed</button></form>` : ''}
</footer>
</section>
</div>`,
    viewer,
  );
}

export function renderEditTodoPage(
  viewer: Viewer,
  todo: TodoRecord,
  returnTo: string,
  problem?: Problem,
  values?: { title: string; dueDate: string; notes: string },
): string {
  const shown = values ?? { title: todo.title, dueDate: todo.dueDate ?? '', notes: todo.notes };
  return layout(
    `Edit: ${todo.title}`,
    html`<h1>Edit todo</h1>
${problemBox(problem)}
<form method="post" action="/todos/${todo.id}" class="stacked">
  ${formFields(viewer, returnTo, randomUUID())}
  <label>Title <input name="title" maxlength="250" autofocus value="${shown.title}" aria-describedby="title-help"></label>
  <p id="title-help" class="help">Saving an empty title deletes the todo.</p>
  <label>Due date <input name="dueDate" type="date" value="${shown.dueDate}"></label>
  <label>Notes <textarea name="notes" rows="4">${shown.notes}</textarea></label>
  <button type="submit">Save</button>
</form>
<p><a href="${returnTo}">Cancel</a></p>`,
    viewer,
  );
}
