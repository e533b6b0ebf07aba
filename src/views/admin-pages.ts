// The admin area: every user's todos (search, filter, edit, delete) and the
// users (enable/disable, admin rights). Plain forms; every value is escaped by
// `html`, including the hrefs built from filter values.
import { detailsHiddenHint, formatBytes, type ReplicationStatus } from '../db/replication.ts';
import type { User } from '../features/accounts/repository.ts';
import { ADMIN_PAGE_SIZE, type AdminTodoRecord } from '../features/admin/repository.ts';
import { html, type SafeHtml } from './html.ts';
import { csrfField, layout, problemBox, type Problem, type Viewer } from './pages.ts';

/** The filter form's values as they arrive in the query string, for refilling the form and building links. */
export interface AdminTodoFilterValues {
  q: string;
  owner: string;
  completed: '' | 'true' | 'false';
  overdue: boolean;
}

export interface AdminTodoEditValues {
  title: string;
  notes: string;
  dueDate: string;
  completed: boolean;
}

type UserRow = User & { todoCount: number; listCount: number };

function adminNav(current: 'todos' | 'users' | 'replication'): SafeHtml {
  const link = (href: string, label: string, name: typeof current) =>
    html`<a href="${href}"${current === name ? html` aria-current="page"` : ''}>${label}</a>`;
  return html`<nav aria-label="Admin">${link('/admin', 'All todos', 'todos')} ${link('/admin/users', 'Users', 'users')} ${link('/admin/replication', 'Replication', 'replication')}</nav>`;
}

function notice(text: string | undefined): SafeHtml {
  return text ? html`<p role="status" class="notice">${text}</p>` : html``;
}

function date(value: Date): SafeHtml {
  return html`<time datetime="${value.toISOString()}">${value.toISOString().slice(0, 10)}</time>`;
}

function owner(todo: AdminTodoRecord): string {
  return todo.ownerUsername ?? '(no owner)';
}

/** `/admin?…` with the current filters and the given page; empty filters are left out to keep URLs short. */
export function adminTodosHref(filters: AdminTodoFilterValues, page = 1): string {
  const query = new URLSearchParams();
  if (filters.q) query.set('q', filters.q);
  if (filters.owner) query.set('owner', filters.owner);
  if (filters.completed) query.set('completed', filters.completed);
  if (filters.overdue) query.set('overdue', '1');
  if (page > 1) query.set('page', String(page));
  const text = query.toString();
  return text ? `/admin?${text}` : '/admin';
}

export function renderAdminTodosPage(
  viewer: Viewer,
  options: {
    todos: AdminTodoRecord[];
    users: Pick<User, 'id' | 'username'>[];
    filters: AdminTodoFilterValues;
    page: number;
    hasMore: boolean;
    notice?: string;
  },
): string {
  const { todos, users, filters, page, hasMore } = options;
  const selected = (on: boolean) => (on ? html` selected` : '');
  const rows = todos.map(
    (todo) => html`<tr>
  <td>${owner(todo)}</td>
  <td>${todo.listName ?? ''}</td>
  <th scope="row"><a href="/admin/todos/${todo.id}">${todo.title}</a></th>
  <td class="date">${date(todo.createdAt)}</td>
  <td class="date">${todo.dueDate ?? ''}${todo.overdue ? html` <strong>(overdue)</strong>` : ''}</td>
  <td>${todo.completed ? 'yes' : 'no'}</td>
</tr>`,
  );
  const pager = html`${page > 1 ? html`<a href="${adminTodosHref(filters, page - 1)}" rel="prev">Previous page</a> ` : ''}${
    hasMore ? html`<a href="${adminTodosHref(filters, page + 1)}" rel="next">Next page</a>` : ''
  }`;
  return layout(
    'Admin: all todos',
    html`<h1>All todos</h1>
${adminNav('todos')}
${notice(options.notice)}
<form method="get" action="/admin" class="add" role="search">
  <label>Search title and notes <input type="search" name="q" maxlength="200" value="${filters.q}"></label>
  <label>Owner <select name="owner">
    <option value="">Anyone</option>
    ${users.map((user) => html`<option value="${user.id}"${selected(filters.owner === String(user.id))}>${user.username}</option>`)}
  </select></label>
  <label>Completed <select name="completed">
    <option value="">Either</option>
    <option value="true"${selected(filters.completed === 'true')}>Completed</option>
    <option value="false"${selected(filters.completed === 'false')}>Not completed</option>
  </select></label>
  <label><input type="checkbox" name="overdue" value="1"${filters.overdue ? html` checked` : ''}> Overdue only</label>
  <button type="submit">Filter</button>
</form>
${
  todos.length === 0
    ? html`<p>No todos match.</p>`
    : html`<div class="table-wrap"><table>
<caption>Todos ${(page - 1) * ADMIN_PAGE_SIZE + 1}–${(page - 1) * ADMIN_PAGE_SIZE + todos.length}, newest first</caption>
<thead><tr><th scope="col">Owner</th><th scope="col">List</th><th scope="col">Title</th><th scope="col">Created</th><th scope="col">Due date</th><th scope="col">Completed</th></tr></thead>
<tbody>
${rows}
</tbody>
</table></div>`
}
${page > 1 || hasMore ? html`<nav aria-label="Pages">${pager}</nav>` : ''}`,
    viewer,
  );
}

export function renderAdminTodoEditPage(
  viewer: Viewer,
  todo: AdminTodoRecord,
  options: { values?: AdminTodoEditValues; problem?: Problem; notice?: string } = {},
): string {
  // After a refused save the form shows what was sent, not what is stored.
  const values = options.values ?? {
    title: todo.title,
    notes: todo.notes,
    dueDate: todo.dueDate ?? '',
    completed: todo.completed,
  };
  const csrf = csrfField(viewer.csrfToken);
  return layout(
    `Admin: ${todo.title}`,
    html`<h1>Edit todo</h1>
${adminNav('todos')}
${problemBox(options.problem)}
${notice(options.notice)}
<p>Owner: ${owner(todo)}${todo.listName === null ? '' : html`, in the list “${todo.listName}”`}. Created ${date(todo.createdAt)}, last changed ${date(todo.updatedAt)}.</p>
<form method="post" action="/admin/todos/${todo.id}" class="stacked">
  ${csrf}
  <label>Title <input name="title" required maxlength="250" value="${values.title}"></label>
  <label>Notes <textarea name="notes" rows="6">${values.notes}</textarea></label>
  <label>Due date <input name="dueDate" type="date" value="${values.dueDate}"></label>
  <label><input name="completed" type="checkbox" value="1"${values.completed ? html` checked` : ''}> Completed</label>
  <button type="submit" aria-label="Save todo ${todo.title}">Save</button>
</form>
<form method="post" action="/admin/todos/${todo.id}/delete" class="stacked">
  ${csrf}
  <button type="submit" class="danger" aria-label="Delete todo ${todo.title}">Delete</button>
</form>
<p><a href="/admin">Back to all todos</a></p>`,
    viewer,
  );
}

export function renderAdminUsersPage(
  viewer: Viewer,
  users: UserRow[],
  options: { selfId: number; problem?: Problem; notice?: string },
): string {
  const csrf = csrfField(viewer.csrfToken);
  const action = (user: UserRow, path: string, label: string, ariaLabel: string) =>
    html`<form method="post" action="/admin/users/${user.id}/${path}" class="inline">${csrf}<button type="submit" aria-label="${ariaLabel}">${label}</button></form>`;
  const rows = users.map((user) => {
    // Your own account gets no disable or revoke button: the server refuses both
    // anyway, so that the last admin cannot lock everyone out.
    const actions =
      user.id === options.selfId
        ? html`(you)`
        : html`${user.isDisabled ? action(user, 'enable', 'Enable', `Enable ${user.username}`) : action(user, 'disable', 'Disable', `Disable ${user.username}`)}
${user.isAdmin ? action(user, 'revoke-admin', 'Revoke admin', `Revoke admin from ${user.username}`) : action(user, 'grant-admin', 'Grant admin', `Grant admin to ${user.username}`)}`;
    return html`<tr>
  <th scope="row">${user.username}</th>
  <td>${user.isAdmin ? 'yes' : 'no'}</td>
  <td>${user.isDisabled ? 'yes' : 'no'}</td>
  <td>${user.listCount}</td>
  <td><a href="/admin?owner=${user.id}" aria-label="${user.todoCount} todos of ${user.username}">${user.todoCount}</a></td>
  <td>${actions}</td>
</tr>`;
  });
  return layout(
    'Admin: users',
    html`<h1>Users</h1>
${adminNav('users')}
${problemBox(options.problem)}
${notice(options.notice)}
<div class="table-wrap"><table>
<caption>Every account</caption>
<thead><tr><th scope="col">Username</th><th scope="col">Admin</th><th scope="col">Disabled</th><th scope="col">Lists</th><th scope="col">Todos</th><th scope="col">Actions</th></tr></thead>
<tbody>
${rows}
</tbody>
</table></div>`,
    viewer,
  );
}

/** The database server the app is connected to and its standbys; `status` is undefined on the embedded database. */
export function renderAdminReplicationPage(viewer: Viewer, status: ReplicationStatus | undefined): string {
  let body: SafeHtml;
  if (!status) {
    body = html`<p>This app runs on the embedded database (PGlite), which has no replication. Replication applies to a PostgreSQL server (<code>DATABASE_URL</code> or <code>POSTGRES_HOST</code>).</p>`;
  } else {
    const { server, standbys } = status;
    const unknown = (value: string | null) => value ?? 'unknown';
    const rows = standbys.map(
      (standby) => html`<tr>
  <th scope="row">${unknown(standby.applicationName)}</th>
  <td>${unknown(standby.clientAddress)}</td>
  <td>${unknown(standby.state)}</td>
  <td>${unknown(standby.syncState)}</td>
  <td>${formatBytes(standby.writeLagBytes)}</td>
  <td>${formatBytes(standby.flushLagBytes)}</td>
  <td>${formatBytes(standby.replayLagBytes)}</td>
  <td>${standby.replayLag ?? (server.detailsVisible ? '-' : 'unknown')}</td>
</tr>`,
    );
    const where = server.address === null ? 'a local socket' : `${server.address}:${server.port}`;
    body = html`<p>Connected to <strong>${where}</strong>, PostgreSQL ${server.version}: <strong>${server.isPrimary ? 'the primary' : 'a standby (in recovery), not the primary'}</strong>.</p>
${
  standbys.length === 0
    ? html`<p>No standbys are streaming from this server${server.isPrimary ? html`: a failover would have nowhere to go` : ''}.</p>`
    : html`<div class="table-wrap"><table>
<caption>Standbys streaming from this server (pg_stat_replication); lag in bytes of WAL behind this server</caption>
<thead><tr><th scope="col">Standby (application name)</th><th scope="col">Client address</th><th scope="col">State</th><th scope="col">Sync state</th><th scope="col">Write lag</th><th scope="col">Flush lag</th><th scope="col">Replay lag</th><th scope="col">Replay lag (time)</th></tr></thead>
<tbody>
${rows}
</tbody>
</table></div>`
}
${!server.detailsVisible && standbys.length > 0 ? html`<p class="notice">${detailsHiddenHint(server.role)}</p>` : ''}`;
  }
  return layout(
    'Admin: replication',
    html`<h1>Replication</h1>
${adminNav('replication')}
${body}`,
    viewer,
  );
}
