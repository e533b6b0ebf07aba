// Progressive enhancement of the todo list page. Every control is already a
// working HTML form (a todo's buttons submit the page's shared forms
// #todo-actions and #todo-edit, each with its own formaction, name and value);
// with JavaScript, their submits are intercepted (event delegation on the
// document) and each is done as one JSON API request, then
// <main> is replaced by the freshly server-rendered list. On failure the
// previous list comes back and a message appears in a role="alert" region.
// Focus is kept on an equivalent control throughout.
//
// The page also follows the changes others make (GET /api/events, from the
// feed position the page was rendered at): each one brings a fresh render of
// <main>, patched in (patch.ts) so typing and an edit in progress survive.
import { apiAction, fetchMainHtml, RequestFailed, send, type ApiAction } from './api.ts';
import { patchMain } from './patch.ts';

const main = document.querySelector('main');
if (main && document.querySelector('.with-lists')) enhance(main);

interface FocusKey {
  /** A selector that finds "the same" control again after <main> is re-rendered. */
  key?: string;
  todoId?: string;
}

function enhance(main: HTMLElement): void {
  const alertBox = document.createElement('div');
  alertBox.setAttribute('role', 'alert');
  alertBox.className = 'client-alert';
  main.before(alertBox);

  let queue: Promise<void> = Promise.resolve();
  let pending = 0;

  function showProblem(message: string): void {
    alertBox.textContent = '';
    const box = document.createElement('div');
    box.className = 'error';
    const text = document.createElement('p');
    text.textContent = message;
    box.append(text);
    alertBox.append(box);
  }

  function newTodoField(): HTMLInputElement | null {
    return main.querySelector<HTMLInputElement>('form.add input[name="title"]');
  }

  const attribute = (name: string, value: string) => `[${name}="${CSS.escape(value)}"]`;

  function focusKeyOf(element: Element | null): FocusKey {
    if (!element || !main.contains(element)) return {};
    const todoId = element.closest<HTMLElement>('li.todo')?.dataset.id;
    if (element instanceof HTMLInputElement && element.classList.contains('select'))
      return { key: `input.select${attribute('value', element.value)}`, todoId };
    const formAction = element.getAttribute('formaction');
    if (formAction) {
      // Move up and move down share their formaction and differ by value; a
      // checkbox's value is the state it sets next, which changes.
      const value = element.getAttribute('role') === 'checkbox' ? null : element.getAttribute('value');
      return {
        key: `${element.tagName.toLowerCase()}${attribute('formaction', formAction)}${value ? attribute('value', value) : ''}`,
        todoId,
      };
    }
    const form = element.closest('form');
    const action = form?.getAttribute('action');
    if (form && action) {
      const name = element.getAttribute('name');
      // Two buttons of one form (move up / move down) differ by their value.
      const value = element instanceof HTMLButtonElement && name ? element.getAttribute('value') : null;
      const control = name
        ? `${attribute('name', name)}${value ? attribute('value', value) : ''}`
        : element.tagName.toLowerCase();
      return { key: `form${attribute('action', action)} ${control}`, todoId };
    }
    if (element.id) return { key: `#${CSS.escape(element.id)}`, todoId };
    return { todoId };
  }

  function restoreFocus(wanted: FocusKey): void {
    if (document.activeElement && document.activeElement !== document.body && main.contains(document.activeElement))
      return;
    const byKey = wanted.key ? main.querySelector<HTMLElement>(wanted.key) : null;
    const todo = wanted.todoId
      ? main.querySelector<HTMLElement>(`li.todo${attribute('data-id', wanted.todoId)}`)
      : null;
    const target = byKey ?? todo?.querySelector<HTMLElement>('button.check') ?? newTodoField();
    target?.focus();
  }

  function render(mainHtml: string, focus: FocusKey): void {
    main.innerHTML = mainHtml;
    restoreFocus(focus);
  }

  /**
   * Runs one user action after the previous ones: its API request, then a
   * fresh list. Each action is one request (bulk ones included), which the
   * server does whole or not at all, so on failure the list as it was before
   * is the truth again: `restore` puts it back when the page already showed
   * the change (a toggle, an edit); otherwise the page is left as it is, with
   * what the person typed or selected.
   */
  function perform(action: ApiAction, focus: FocusKey, restore?: string): void {
    pending += 1;
    main.setAttribute('aria-busy', 'true');
    queue = queue.then(async () => {
      try {
        await send(action);
        const fresh = await fetchMainHtml();
        alertBox.textContent = '';
        render(fresh, focus);
      } catch (error) {
        if (restore !== undefined) render(restore, focus);
        showProblem(error instanceof RequestFailed ? error.message : 'Something went wrong. Please try again.');
      } finally {
        pending -= 1;
        if (pending === 0) main.removeAttribute('aria-busy');
      }
    });
  }

  /** The todo a button acts on, when it is that kind of button: the server renders data-action on it and data-id on its <li>. */
  const todoOf = (button: Element | null | undefined, verb: string): string | undefined =>
    button instanceof HTMLElement && button.dataset.action === verb
      ? button.closest<HTMLElement>('li.todo')?.dataset.id
      : undefined;

  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !main.contains(form)) return;
    const submitter = (event as SubmitEvent).submitter;
    const method = (form.getAttribute('method') ?? 'get').toLowerCase();
    const focus = focusKeyOf(document.activeElement !== document.body ? document.activeElement : submitter);
    const field = (name: string): string => {
      const element = form.elements.namedItem(name);
      return element instanceof HTMLInputElement || element instanceof HTMLTextAreaElement ? element.value : '';
    };
    const run = (request: ApiAction, options: { focus?: FocusKey; restore?: string } = {}) => {
      event.preventDefault();
      perform(request, options.focus ?? focus, options.restore);
    };

    if (method === 'get') {
      const editId = todoOf(submitter, 'edit');
      if (editId) {
        event.preventDefault();
        startEdit(editId);
      }
      return;
    }

    // The list shown: its todos' API (the server renders its id on the list's container).
    const listId = form.closest<HTMLElement>('.with-lists')?.dataset.listId;
    const todosApi = listId ? `/api/lists/${listId}/todos` : '/api/todos';
    const formAction = form.dataset.action;

    if (formAction === 'add') {
      const title = field('title').trim();
      if (!title) {
        event.preventDefault();
        newTodoField()?.focus();
        return;
      }
      run(
        apiAction('POST', todosApi, {
          title,
          dueDate: field('dueDate').trim() || null,
          notes: field('notes'),
        }),
        {
          focus: { key: 'form.add [name="title"]' },
        },
      );
      return;
    }

    const toggleId = todoOf(submitter, 'toggle');
    if (toggleId && submitter instanceof HTMLButtonElement) {
      const completed = submitter.value === 'true';
      // Optimistic: show the new state at once; a failure puts the old one back.
      const before = main.innerHTML;
      submitter.setAttribute('aria-checked', String(completed));
      submitter.value = String(!completed);
      submitter.closest('li.todo')?.classList.toggle('completed', completed);
      run(apiAction('PATCH', `/api/todos/${toggleId}`, { completed }), { restore: before });
      return;
    }

    const deleteId = todoOf(submitter, 'delete');
    if (deleteId) {
      run(apiAction('DELETE', `/api/todos/${deleteId}`));
      return;
    }

    const moveId = todoOf(submitter, 'move');
    if (moveId && submitter instanceof HTMLButtonElement && (submitter.value === 'up' || submitter.value === 'down')) {
      // Focus stays on the button pressed, which moves with its todo.
      run(apiAction('POST', `/api/todos/${moveId}/move`, { direction: submitter.value }), {
        focus: focusKeyOf(submitter),
      });
      return;
    }

    if (formAction === 'toggle-all') {
      run(apiAction('PATCH', todosApi, { completed: field('completed') === 'true' }));
      return;
    }

    if (formAction === 'clear-completed') {
      run(apiAction('DELETE', `${todosApi}?completed=true`));
      return;
    }

    if (formAction === 'delete-selected') {
      const ids = Array.from(main.querySelectorAll<HTMLInputElement>('input.select:checked'), (box) =>
        Number(box.value),
      );
      if (ids.length === 0) {
        event.preventDefault();
        return;
      }
      run(apiAction('POST', `${todosApi}/delete`, { ids }));
    }
    // Anything else (search, log out) stays a plain form.
  });

  const root = main.querySelector<HTMLElement>('.with-lists');
  if (root && typeof EventSource === 'function') follow(root.dataset.feedPosition ?? '', root.dataset.listId ?? '');

  /**
   * Follows the changes to every list the person can see: after each (a
   * burst of them at once), a fresh <main> is patched in, after any action of
   * the person's own still under way. When the list shown is deleted, or the
   * person's access to it ends, the page goes to their Inbox; when their
   * session ends (logged out, or a password change, anywhere), to the log-in.
   */
  function follow(position: string, listId: string): void {
    let scheduled = false;
    const refresh = () => {
      if (scheduled) return;
      scheduled = true;
      setTimeout(() => {
        queue = queue.then(async () => {
          scheduled = false;
          const hadFocus = main.contains(document.activeElement);
          const focus = focusKeyOf(document.activeElement);
          try {
            patchMain(main, await fetchMainHtml());
          } catch {
            return; // the next change, or the stream's reconnection (a resync), brings it
          }
          if (hadFocus) restoreFocus(focus);
        });
      }, 50);
    };
    let last = position;
    let retryMs = 0; // the first decision at once, then backing off while the server keeps refusing
    const connect = () => {
      const source = new EventSource(`/api/events?lastEventId=${encodeURIComponent(last)}`);
      const types = ['todo', 'todo-removed', 'list', 'list-removed', 'resync', 'ready'];
      for (const type of types)
        source.addEventListener(type, (event) => (last = (event as MessageEvent<string>).lastEventId || last));
      for (const type of ['todo', 'todo-removed', 'list', 'resync']) source.addEventListener(type, refresh);
      source.addEventListener('ready', () => (retryMs = 0));
      source.addEventListener('list-removed', (event) => {
        const { listId: gone } = JSON.parse((event as MessageEvent<string>).data) as { listId: number };
        if (String(gone) === listId) location.assign('/');
        else refresh();
      });
      source.addEventListener('error', () => {
        // A dropped stream the browser reconnects by itself; one it gave up on (an answer other than
        // 200: a 401 once the session ended, by a log-out or a password change anywhere, or a 503
        // mid-failover) is decided here.
        if (source.readyState !== EventSource.CLOSED) return;
        setTimeout(() => {
          void fetch('/api/lists', { headers: { accept: 'application/json' } })
            .then(
              (response) => response.status,
              () => 0,
            )
            .then((status) => {
              if (status === 401) location.assign('/login');
              else connect();
            });
        }, retryMs);
        retryMs = Math.min(Math.max(retryMs * 2, 1000), 30_000);
      });
    };
    connect();
  }

  main.addEventListener('dblclick', (event) => {
    const title = event.target instanceof Element ? event.target.closest('li.todo .title') : null;
    const id = title?.closest<HTMLElement>('li.todo')?.dataset.id;
    if (id) startEdit(id);
  });

  /**
   * Turns a todo into fields for its title, due date and notes. Enter (in the
   * notes: Ctrl+Enter) or leaving the fields saves, Escape cancels; saving an
   * empty title deletes the todo.
   */
  function startEdit(id: string): void {
    const item = main.querySelector<HTMLElement>(`li.todo${attribute('data-id', id)}`);
    const body = item?.querySelector<HTMLElement>('.body');
    // A viewer's todos have no controls: nothing to edit.
    if (!item || !body || body.querySelector('.editor') || !item.querySelector('button.check')) return;
    const before = main.innerHTML;
    const original = {
      title: item.querySelector('.title')?.textContent ?? '',
      dueDate: item.querySelector('.due time')?.getAttribute('datetime') ?? '',
      notes: item.querySelector('.notes')?.textContent ?? '',
    };
    const shown = Array.from(body.children) as HTMLElement[];

    const editor = document.createElement('div');
    editor.className = 'editor';
    const titleField = document.createElement('input');
    titleField.type = 'text';
    titleField.className = 'edit-title';
    titleField.value = original.title;
    titleField.maxLength = 250;
    titleField.setAttribute('aria-label', `Edit ${original.title}`);
    const dueField = document.createElement('input');
    dueField.type = 'date';
    dueField.value = original.dueDate;
    const notesField = document.createElement('textarea');
    notesField.rows = 2;
    notesField.value = original.notes;
    const labelled = (text: string, control: HTMLElement) => {
      const label = document.createElement('label');
      label.append(`${text} `, control);
      return label;
    };
    const help = document.createElement('p');
    help.className = 'help';
    help.id = `edit-help-${id}`;
    help.textContent = 'Enter saves, Escape cancels; an empty title deletes the todo.';
    titleField.setAttribute('aria-describedby', help.id);
    editor.append(titleField, labelled('Due date', dueField), labelled('Notes', notesField), help);
    for (const element of shown) element.hidden = true;
    body.append(editor);
    titleField.focus();
    titleField.select();

    const editButtonKey: FocusKey = { key: `button${attribute('formaction', `/todos/${id}/edit`)}`, todoId: id };
    let finished = false;
    const cancel = () => {
      if (finished) return;
      finished = true;
      editor.remove();
      for (const element of shown) element.hidden = false;
      main.querySelector<HTMLElement>(editButtonKey.key ?? '')?.focus();
    };
    const save = () => {
      if (finished) return;
      const title = titleField.value.trim();
      const changes: { title?: string; dueDate?: string | null; notes?: string } = {};
      if (title !== original.title) changes.title = title;
      if (dueField.value !== original.dueDate) changes.dueDate = dueField.value || null;
      if (notesField.value !== original.notes) changes.notes = notesField.value;
      if (Object.keys(changes).length === 0) {
        cancel();
        return;
      }
      finished = true;
      for (const control of [titleField, dueField, notesField]) control.readOnly = true;
      perform(
        title ? apiAction('PATCH', `/api/todos/${id}`, changes) : apiAction('DELETE', `/api/todos/${id}`),
        editButtonKey,
        before,
      );
    };
    editor.addEventListener('keydown', (event) => {
      const inNotes = event.target === notesField;
      if (event.key === 'Enter' && (!inNotes || event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        save();
      } else if (event.key === 'Escape') {
        event.preventDefault();
        cancel();
      }
    });
    // Leaving the editor saves; moving between its own fields does not.
    editor.addEventListener('focusout', (event) => {
      if (!(event.relatedTarget instanceof Node && editor.contains(event.relatedTarget))) save();
    });
  }
}
