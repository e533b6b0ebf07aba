// The todo list page and the edit page. Every action is a plain form post, so
// the page works without JavaScript; accessible names are the contract tests
// and assistive technology rely on ("New todo", "Due date", a checkbox named
// by the todo's title, "Delete <title>", "Edit <title>", "Toggle all", …).
import { randomUUID } from 'node:crypto';
import type { TodoRecord, TodoSort } from '../features/todos/repository.ts';
import type { AppCaches } from '../plugins/caches.ts';
import { html, SafeHtml } from './html.ts';
import { csrfField, layout, problemBox, type Problem, type Viewer } from './pages.ts';

export type TodoFilter = 'all' | 'active' | 'completed';

export const FILTER_PATHS: Record<TodoFilter, string> = { all: '/', active: '/active', completed: '/completed' };
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
function formFields(viewer: Viewer, returnTo: string): SafeHtml {
  // randomUUID draws from a pool of random bytes; randomBytes asks the system each time.
  return html`${csrfField(viewer.csrfToken)}<input type="hidden" name="returnTo" value="${returnTo}"><input type="hidden" name="_idempotency" value="${randomUUID()}">`;
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
  const key = itemKey(todo.id, todo.version, overdue, manualOrder);
  let markup = caches.itemMarkup.get(key);
  if (markup === undefined) {
    markup = renderTodoItem(todo, overdue, manualOrder, caches).value;
    caches.itemMarkup.set(key, markup);
  }
  return markup;
}

/** Due before today (the database's, YYYY-MM-DD) and not done. */
export function isOverdue(todo: Pick<TodoRecord, 'dueDate' | 'completed'>, today: string): boolean {
  return todo.dueDate !== null && !todo.completed && todo.dueDate < today;
}

function itemKey(id: number, version: string, overdue: boolean, manualOrder: boolean): string {
  return `${id}:${version}:${overdue ? 1 : 0}${manualOrder ? 1 : 0}`;
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
export function todoItemsKey(sort: TodoSort, versions: string, overdue: string): string {
  return `${sort}|${versions}|${overdue}`;
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
function renderTodoItem(todo: TodoRecord, overdue: boolean, manualOrder: boolean, caches: ItemCaches): SafeHtml {
  // data-action names what a button does for the page's script (src/client/app.ts); the <li>'s data-id says to which todo.
  const post = (verb: string) =>
    html`form="${TODO_ACTIONS_FORM}" formaction="/todos/${todo.id}/${verb}" data-action="${verb}"`;
  return html`<li class="todo${todo.completed ? ' completed' : ''}${overdue ? ' overdue' : ''}" data-id="${todo.id}"><button ${post('toggle')} name="completed" value="${todo.completed ? 'false' : 'true'}" role="checkbox" aria-checked="${todo.completed ? 'true' : 'false'}" aria-label="${todo.title}" class="check"></button><input type="checkbox" name="ids" value="${todo.id}" form="bulk" class="select" aria-label="Select ${todo.title}"><div class="body"><span class="title">${todo.title}</span>${
    todo.dueDate
      ? html` <span class="due">Due <time datetime="${todo.dueDate}">${readableDate(todo.dueDate, caches)}</time>${overdue ? html` <strong class="overdue-flag">Overdue</strong>` : ''}</span>`
      : ''
  }${todo.notes ? html`<p class="notes">${todo.notes}</p>` : ''}</div><div class="actions">${
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
 * the render's own data (CSRF token, idempotency nonce).
 */
export function renderTodoListPageAround(
  viewer: Viewer,
  itemCount: number,
  view: ListView,
  options: ListPageOptions = {},
): { before: string; after: string } {
  const [before = '', after = '', ...rest] = renderListPageAround(viewer, itemCount, view, options).split(TODO_ITEMS);
  if (rest.length > 0) throw new Error('the list page has its items placeholder twice');
  return { before, after };
}

function renderListPageAround(viewer: Viewer, itemCount: number, view: ListView, options: ListPageOptions): string {
  const back = formFields(viewer, view.returnTo);
  const total = view.counts.active + view.counts.completed;
  const allDone = total > 0 && view.counts.active === 0;
  const values = options.values ?? {};
  const searchPath = FILTER_PATHS[view.filter];
  return layout(
    view.filter === 'all' ? 'Todos' : `${FILTER_LABELS[view.filter]} todos`,
    html`<h1>Todos</h1>
${problemBox(options.problem)}
<form class="add" method="post" action="/todos">
  ${back}
  <label class="grow">New todo <input name="title" required maxlength="250" autofocus autocomplete="off" value="${values.title ?? ''}"></label>
  <label>Due date <input name="dueDate" type="date" value="${values.dueDate ?? ''}"></label>
  <label class="full">Notes <textarea name="notes" rows="2">${values.notes ?? ''}</textarea></label>
  <button type="submit">Add</button>
</form>
<form class="view" method="get" action="${searchPath}" role="search">
  <label>Search <input type="search" name="q" value="${view.text}"></label>
  <span class="sort"><label for="sort">Sort</label> <select id="sort" name="sort">${(
    Object.keys(SORT_LABELS) as TodoSort[]
  ).map(
    (sort) => html`<option value="${sort}"${view.sort === sort ? html` selected` : ''}>${SORT_LABELS[sort]}</option>`,
  )}</select></span>
  <button type="submit">Apply</button>
</form>
<nav aria-label="Filter todos"><ul class="filters">${(Object.keys(FILTER_PATHS) as TodoFilter[]).map(
      (filter) =>
        html`<li><a href="${FILTER_PATHS[filter]}"${view.filter === filter ? html` aria-current="page"` : ''}>${FILTER_LABELS[filter]}</a></li>`,
    )}</ul></nav>
${
  total > 0
    ? html`<form method="post" action="/todos/toggle-all" class="toggle-all">${back}<input type="hidden" name="completed" value="${allDone ? 'false' : 'true'}">
  <button type="submit" role="checkbox" aria-checked="${allDone ? 'true' : 'false'}" class="check">Toggle all</button></form>`
    : ''
}
${
  itemCount === 0
    ? html`<p class="empty">${total === 0 ? 'Nothing to do yet. Add your first todo above.' : view.text ? 'No todo matches your search.' : `No ${FILTER_LABELS[view.filter].toLowerCase()} todos.`}</p>`
    : html`<ul class="todos" aria-label="Todos">${new SafeHtml(TODO_ITEMS)}</ul>
<form id="${TODO_ACTIONS_FORM}" method="post" hidden>${back}</form>
<form id="${TODO_EDIT_FORM}" method="get" hidden><input type="hidden" name="returnTo" value="${view.returnTo}"></form>
<form id="bulk" method="post" action="/todos/delete-selected" class="bulk">${back}<button type="submit">Delete selected</button></form>`
}
${pageLinks(view.pages)}
<footer class="list-footer">
  <span class="count" role="status">${view.counts.active} ${view.counts.active === 1 ? 'item' : 'items'} left</span>
  ${view.counts.completed > 0 ? html`<form method="post" action="/todos/clear-completed" class="inline">${back}<button type="submit">Clear completed</button></form>` : ''}
</footer>`,
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
  ${formFields(viewer, returnTo)}
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
