// A list's settings page: rename, place, archive, share and delete (its
// owner), or leave (a member). Plain forms: it all works without JavaScript.
import { randomUUID } from 'node:crypto';
import type { ListRecord, Member } from '../features/lists/repository.ts';
import { listPaths } from './todo-pages.ts';
import { html, type SafeHtml } from './html.ts';
import { csrfField, layout, problemBox, type Problem, type Viewer } from './pages.ts';

function fields(viewer: Viewer): SafeHtml {
  return html`${csrfField(viewer.csrfToken)}<input type="hidden" name="_idempotency" value="${randomUUID()}">`;
}

const ROLE_LABELS = { editor: 'Editor (adds, changes, completes and deletes todos)', viewer: 'Viewer (reads only)' };

function roleSelect(selected: Member['role'] | undefined, label: string): SafeHtml {
  return html`<label>${label} <select name="role">${(['editor', 'viewer'] as const).map(
    (role) => html`<option value="${role}"${selected === role ? html` selected` : ''}>${ROLE_LABELS[role]}</option>`,
  )}</select></label>`;
}

export function renderListSettingsPage(
  viewer: Viewer,
  list: ListRecord,
  members: Member[],
  problem?: Problem,
  totalTodos = 0,
): string {
  const base = `/lists/${list.id}`;
  const back = html`<p><a href="${listPaths(list).all}">Back to ${list.name}</a></p>`;
  if (list.role !== 'owner')
    return layout(
      `Settings: ${list.name}`,
      html`<h1>${list.name}</h1>
${problemBox(problem)}
<p>Shared with you by ${list.owner}. You are ${list.role === 'viewer' ? 'a viewer: you can read its todos' : 'an editor: you can add, change, complete and delete its todos'}.</p>
<form method="post" action="${base}/members/${viewer.username}/remove" class="stacked">${fields(viewer)}
  <button type="submit" class="danger">Leave this list</button>
</form>
${back}`,
      viewer,
    );
  return layout(
    `Settings: ${list.name}`,
    html`<h1>Settings: ${list.name}</h1>
${problemBox(problem)}
<h2>Name and place</h2>
<form method="post" action="${base}/settings" class="stacked">${fields(viewer)}
  <label>Name <input name="name" required maxlength="100" value="${list.name}"></label>
  <label>Position <input name="position" type="number" value="${String(list.position)}"></label>
  <p class="help">Lists are shown by position, lowest first.</p>
  <button type="submit">Save</button>
</form>
${
  list.isInbox || list.archived
    ? ''
    : html`<form method="post" action="${base}/move" class="inline">${fields(viewer)}<button name="direction" value="up" aria-label="Move ${list.name} up in the lists">Move up</button> <button name="direction" value="down" aria-label="Move ${list.name} down in the lists">Move down</button></form>`
}
${
  list.isInbox
    ? ''
    : html`<form method="post" action="${base}/archive" class="stacked">${fields(viewer)}<input type="hidden" name="archived" value="${list.archived ? 'false' : 'true'}">
  <button type="submit">${list.archived ? 'Unarchive this list' : 'Archive this list'}</button>
  <p class="help">An archived list is hidden from the lists column and kept, with its todos.</p>
</form>`
}
<h2>Sharing</h2>
${
  members.length === 0
    ? html`<p>Only you can see this list.</p>`
    : html`<table><caption>Shared with</caption><thead><tr><th scope="col">Account</th><th scope="col">Role</th><th scope="col">Remove</th></tr></thead><tbody>${members.map(
        (member) =>
          html`<tr><th scope="row">${member.username}</th><td><form method="post" action="${base}/members" class="inline">${fields(viewer)}<input type="hidden" name="username" value="${member.username}">${roleSelect(member.role, `Role of ${member.username}`)} <button type="submit">Change</button></form></td><td><form method="post" action="${base}/members/${member.username}/remove" class="inline">${fields(viewer)}<button type="submit" class="danger" aria-label="Stop sharing with ${member.username}">Remove</button></form></td></tr>`,
      )}</tbody></table>`
}
<form method="post" action="${base}/members" class="stacked">${fields(viewer)}
  <label>Share with (username) <input name="username" required maxlength="50" autocomplete="off"></label>
  ${roleSelect('editor', 'As')}
  <button type="submit">Share</button>
</form>
${
  list.isInbox
    ? ''
    : html`<h2>Delete</h2>
<form method="post" action="${base}/delete" class="stacked">${fields(viewer)}
  <label><input type="checkbox" name="confirm" value="yes" required> Yes, delete “${list.name}” and its ${String(totalTodos)} ${totalTodos === 1 ? 'todo' : 'todos'}</label>
  <button type="submit" class="danger">Delete this list</button>
</form>`
}
${back}`,
    viewer,
  );
}
