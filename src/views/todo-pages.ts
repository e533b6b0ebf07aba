// The todo list page and the edit page. Every action is a plain form post, so
// the page works without JavaScript; accessible names are the contract tests
// and assistive technology rely on ("New todo", "Due date", a checkbox named
// by the todo's title, "Delete <title>", "Edit <title>", "Toggle all", …).
import { randomUUID } from 'node:crypto';
import type { TodoRecord, TodoSort } from '../features/todos/repository.ts';
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
}

const dateFormat = new Intl.DateTimeFormat('en', { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
// Intl formatting costs microseconds, and a list shows the same few dates over and over.
const readableDates = new Map<string, string>();

export function readableDate(isoDate: string): string {
  let readable = readableDates.get(isoDate);
  if (readable === undefined) {
    readable = dateFormat.format(new Date(`${isoDate}T00:00:00Z`));
    if (readableDates.size >= 2000) readableDates.clear();
    readableDates.set(isoDate, readable);
  }
  return readable;
}

/**
 * The hidden fields of the page's forms that change todos. Each form
 * gets its own idempotency key, so posting the same form twice (a double
 * click, a resend after a failed request) changes things once; call `next` once
 * per form. A key is one random nonce per page and the form's
 * number: unique like a UUID per form, but a 200-form page carries one random
 * string instead of 200, which keeps it small once compressed and cheap to render.
 */
class FormFields {
  /** What every form of the page carries alike: the CSRF token and where to return. */
  readonly fixed: string;
  // randomUUID draws from a pool of random bytes; randomBytes asks the system each time.
  readonly #nonce = randomUUID();
  #forms = 0;

  constructor(viewer: Viewer, returnTo: string) {
    this.fixed = html`${csrfField(viewer.csrfToken)}<input type="hidden" name="returnTo" value="${returnTo}">`.value;
  }

  /** The next form's own idempotency key field. */
  key(): string {
    return `<input type="hidden" name="_idempotency" value="${this.#nonce}.${++this.#forms}">`;
  }

  /** All of the next form's hidden fields. */
  next(): SafeHtml {
    return new SafeHtml(this.fixed + this.key());
  }
}

/**
 * Stands for the per-form hidden fields while a todo's markup is rendered
 * for the cache. Escaped values never hold a "<", so nothing a person typed
 * can look like it.
 */
const FORM_FIELDS = '<!--form-fields-->';
/**
 * Each todo's markup, by the todo's row version and what of the view it
 * shows, split where the page puts its per-form hidden fields. Rendering
 * a todo took a thousand small strings that had to be joined again for every
 * page; a todo changes far less often than its list is shown. Bounded: at
 * the limit it starts afresh.
 */
const itemMarkup = new Map<string, string[]>();
const ITEM_MARKUP_ENTRIES = 5000;

/** Writes a todo's markup, rendered once per version of the todo and view, with this page's form fields. */
function writeTodoItem(page: PageWriter, todo: TodoRecord, view: ListView, fields: FormFields): void {
  const overdue = todo.dueDate !== null && !todo.completed && todo.dueDate < view.today;
  const key = `${todo.id}:${todo.version}:${overdue ? 1 : 0}${view.sort === 'order' ? 1 : 0}:${view.returnTo}`;
  let parts = itemMarkup.get(key);
  if (parts === undefined) {
    parts = renderTodoItem(todo, view, overdue).value.split(FORM_FIELDS);
    if (itemMarkup.size >= ITEM_MARKUP_ENTRIES) itemMarkup.clear();
    itemMarkup.set(key, parts);
  }
  // Piece by piece: the pieces are flat strings already, joining them would copy them once more.
  page.write(parts[0] ?? '');
  for (let index = 1; index < parts.length; index++) {
    page.write(fields.fixed);
    page.write(fields.key());
    page.write(parts[index] ?? '');
  }
}

/**
 * Writes a page's pieces straight into bytes. Joined into one string first, a
 * page of 100 todos (145 KB) is too big for V8's young generation: it lands
 * in large-object space, fresh memory for every page, and making it and then
 * its bytes cost more than rendering it.
 */
/** Buffer's own UTF-8 writer, there since Node 0.x though left out of its types. */
type Utf8Writable = Buffer & { utf8Write(text: string, offset: number): number };

class PageWriter {
  /** Reused by every page: rendering is synchronous, so one page at a time writes here. */
  static #scratch = Buffer.allocUnsafeSlow(256 * 1024);
  #length = 0;

  write(text: string): void {
    // UTF-8 takes at most three bytes for each UTF-16 unit.
    if (this.#length + text.length * 3 > PageWriter.#scratch.length) {
      const larger = Buffer.allocUnsafeSlow(Math.max(PageWriter.#scratch.length * 2, this.#length + text.length * 3));
      PageWriter.#scratch.copy(larger, 0, 0, this.#length);
      PageWriter.#scratch = larger;
    }
    // utf8Write is what write() calls after checking its arguments, which cost
    // more than the copy for pieces this small (a page writes some 700).
    this.#length += (PageWriter.#scratch as Utf8Writable).utf8Write(text, this.#length);
  }

  /** The page's bytes, copied out of the scratch buffer (into memory that is not zeroed first: every byte is written). */
  bytes(): Buffer {
    const bytes = Buffer.allocUnsafe(this.#length);
    PageWriter.#scratch.copy(bytes, 0, 0, this.#length);
    return bytes;
  }
}

function renderTodoItem(todo: TodoRecord, view: ListView, overdue: boolean): SafeHtml {
  const back = new SafeHtml(FORM_FIELDS);
  return html`<li class="todo${todo.completed ? ' completed' : ''}${overdue ? ' overdue' : ''}" data-id="${todo.id}">
  <form method="post" action="/todos/${todo.id}/toggle" class="toggle">${back}<input type="hidden" name="completed" value="${todo.completed ? 'false' : 'true'}">
    <button type="submit" role="checkbox" aria-checked="${todo.completed ? 'true' : 'false'}" aria-label="${todo.title}" class="check"></button></form>
  <input type="checkbox" name="ids" value="${todo.id}" form="bulk" class="select" aria-label="Select ${todo.title}">
  <div class="body">
    <span class="title">${todo.title}</span>
    ${todo.dueDate ? html`<span class="due">Due <time datetime="${todo.dueDate}">${readableDate(todo.dueDate)}</time>${overdue ? html` <strong class="overdue-flag">Overdue</strong>` : ''}</span>` : ''}
    ${todo.notes ? html`<p class="notes">${todo.notes}</p>` : ''}
  </div>
  <div class="actions">
    ${view.sort === 'order'
      ? html`<form method="post" action="/todos/${todo.id}/move" class="inline move">${back}<button type="submit" name="direction" value="up" aria-label="Move ${todo.title} up">↑</button>
    <button type="submit" name="direction" value="down" aria-label="Move ${todo.title} down">↓</button></form>`
      : ''}
    <form method="get" action="/todos/${todo.id}/edit" class="inline"><input type="hidden" name="returnTo" value="${view.returnTo}"><button type="submit" aria-label="Edit ${todo.title}">Edit</button></form>
    <form method="post" action="/todos/${todo.id}/delete" class="inline">${back}<button type="submit" class="danger" aria-label="Delete ${todo.title}">Delete</button></form>
  </div>
</li>`;
}

/** Where the todos go in the page around them, while that is rendered (see FORM_FIELDS). */
const TODO_ITEMS = '<!--todo-items-->';

/** The list page, as UTF-8 bytes. */
export function renderTodoListPage(viewer: Viewer, todos: TodoRecord[], view: ListView, options: { problem?: Problem; values?: { title?: string; dueDate?: string; notes?: string } } = {}): Buffer {
  const fields = new FormFields(viewer, view.returnTo);
  const [before = '', after = '', ...rest] = renderListPageAround(viewer, todos, view, options, fields).split(TODO_ITEMS);
  if (rest.length > 0) throw new Error('the list page has its items placeholder twice');
  const page = new PageWriter();
  page.write(before);
  for (const todo of todos) writeTodoItem(page, todo, view, fields);
  page.write(after);
  return page.bytes();
}

function renderListPageAround(viewer: Viewer, todos: TodoRecord[], view: ListView, options: { problem?: Problem; values?: { title?: string; dueDate?: string; notes?: string } }, fields: FormFields): string {
  const back = () => fields.next();
  const total = view.counts.active + view.counts.completed;
  const allDone = total > 0 && view.counts.active === 0;
  const values = options.values ?? {};
  const searchPath = FILTER_PATHS[view.filter];
  return layout(
    view.filter === 'all' ? 'Todos' : `${FILTER_LABELS[view.filter]} todos`,
    html`<h1>Todos</h1>
${problemBox(options.problem)}
<form class="add" method="post" action="/todos">
  ${back()}
  <label class="grow">New todo <input name="title" required maxlength="250" autofocus autocomplete="off" value="${values.title ?? ''}"></label>
  <label>Due date <input name="dueDate" type="date" value="${values.dueDate ?? ''}"></label>
  <label class="full">Notes <textarea name="notes" rows="2">${values.notes ?? ''}</textarea></label>
  <button type="submit">Add</button>
</form>
<form class="view" method="get" action="${searchPath}" role="search">
  <label>Search <input type="search" name="q" value="${view.text}"></label>
  <span class="sort"><label for="sort">Sort</label> <select id="sort" name="sort">${(Object.keys(SORT_LABELS) as TodoSort[]).map(
    (sort) => html`<option value="${sort}"${view.sort === sort ? html` selected` : ''}>${SORT_LABELS[sort]}</option>`,
  )}</select></span>
  <button type="submit">Apply</button>
</form>
<nav aria-label="Filter todos"><ul class="filters">${(Object.keys(FILTER_PATHS) as TodoFilter[]).map(
      (filter) => html`<li><a href="${FILTER_PATHS[filter]}"${view.filter === filter ? html` aria-current="page"` : ''}>${FILTER_LABELS[filter]}</a></li>`,
    )}</ul></nav>
${total > 0
  ? html`<form method="post" action="/todos/toggle-all" class="toggle-all">${back()}<input type="hidden" name="completed" value="${allDone ? 'false' : 'true'}">
  <button type="submit" role="checkbox" aria-checked="${allDone ? 'true' : 'false'}" class="check">Toggle all</button></form>`
  : ''}
${todos.length === 0
  ? html`<p class="empty">${total === 0 ? 'Nothing to do yet. Add your first todo above.' : view.text ? 'No todo matches your search.' : `No ${FILTER_LABELS[view.filter].toLowerCase()} todos.`}</p>`
  : html`<ul class="todos" aria-label="Todos">${new SafeHtml(TODO_ITEMS)}</ul>
<form id="bulk" method="post" action="/todos/delete-selected" class="bulk">${back()}<button type="submit">Delete selected</button></form>`}
<footer class="list-footer">
  <span class="count" role="status">${view.counts.active} ${view.counts.active === 1 ? 'item' : 'items'} left</span>
  ${view.counts.completed > 0 ? html`<form method="post" action="/todos/clear-completed" class="inline">${back()}<button type="submit">Clear completed</button></form>` : ''}
</footer>`,
    viewer,
  );
}

export function renderEditTodoPage(viewer: Viewer, todo: TodoRecord, returnTo: string, problem?: Problem, values?: { title: string; dueDate: string; notes: string }): string {
  const shown = values ?? { title: todo.title, dueDate: todo.dueDate ?? '', notes: todo.notes };
  return layout(
    `Edit: ${todo.title}`,
    html`<h1>Edit todo</h1>
${problemBox(problem)}
<form method="post" action="/todos/${todo.id}" class="stacked">
  ${new FormFields(viewer, returnTo).next()}
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
