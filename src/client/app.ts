// Progressive enhancement of the todo list page. Every control is already a
// working HTML form; with JavaScript, their submits are intercepted (event
// delegation on the document) and done through the JSON API, then <main> is
// replaced by the freshly server-rendered list. On failure the previous list
// comes back and a message appears in a role="alert" region. Focus is kept on
// an equivalent control throughout.
import { api, fetchMainHtml, RequestFailed } from './api.ts';

const main = document.querySelector('main');
if (main && document.querySelector('form.add')) enhance(main);

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

  /** A selector that finds "the same" control again after <main> is re-rendered. */
  function focusKeyOf(element: Element | null): { key?: string; todoId?: string } {
    if (!element || !main.contains(element)) return {};
    const todoId = element.closest<HTMLElement>('li.todo')?.dataset.id;
    if (element instanceof HTMLInputElement && element.classList.contains('select')) return { key: `input.select[value="${element.value}"]`, todoId };
    const form = element.closest('form');
    const action = form?.getAttribute('action');
    if (form && action) {
      const name = element.getAttribute('name');
      return { key: `form[action="${action}"] ${name ? `[name="${name}"]` : element.tagName.toLowerCase()}`, todoId };
    }
    if (element.id) return { key: `#${CSS.escape(element.id)}`, todoId };
    return { todoId };
  }

  function restoreFocus(wanted: { key?: string; todoId?: string }): void {
    if (document.activeElement && document.activeElement !== document.body && main.contains(document.activeElement)) return;
    const byKey = wanted.key ? main.querySelector<HTMLElement>(wanted.key) : null;
    const todo = wanted.todoId ? main.querySelector<HTMLElement>(`li.todo[data-id="${wanted.todoId}"]`) : null;
    const target = byKey ?? todo?.querySelector<HTMLElement>('form.toggle button') ?? newTodoField();
    target?.focus();
  }

  function render(mainHtml: string, focus: { key?: string; todoId?: string }): void {
    main.innerHTML = mainHtml;
    restoreFocus(focus);
  }

  /**
   * Runs one user action after the previous ones: the API calls, then a fresh
   * list. On failure: the list as it was before (or, when `refetchOnFailure`,
   * as the server now has it, since a bulk action may have half happened).
   */
  function perform(work: () => Promise<void>, focus: { key?: string; todoId?: string }, before: string, refetchOnFailure = false): void {
    pending += 1;
    main.setAttribute('aria-busy', 'true');
    queue = queue.then(async () => {
      try {
        await work();
        const fresh = await fetchMainHtml();
        alertBox.textContent = '';
        render(fresh, focus);
      } catch (error) {
        let previous = before;
        if (refetchOnFailure) previous = await fetchMainHtml().catch(() => before);
        render(previous, focus);
        showProblem(error instanceof RequestFailed ? error.message : 'Something went wrong. Please try again.');
      } finally {
        pending -= 1;
        if (pending === 0) main.removeAttribute('aria-busy');
      }
    });
  }

  const idOf = (action: string, verb: string): string | undefined => new RegExp(`^/todos/(\\d+)/${verb}$`).exec(action)?.[1];

  async function idsWhere(completed: boolean): Promise<number[]> {
    const todos = (await api('GET', `/api/todos?completed=${completed}`)) as { id: number }[];
    return todos.map((todo) => todo.id);
  }

  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !main.contains(form)) return;
    const action = form.getAttribute('action') ?? '';
    const method = (form.getAttribute('method') ?? 'get').toLowerCase();
    const before = main.innerHTML;
    const focus = focusKeyOf(document.activeElement !== document.body ? document.activeElement : (event as SubmitEvent).submitter);
    const field = (name: string): string => {
      const element = form.elements.namedItem(name);
      return element instanceof HTMLInputElement || element instanceof HTMLTextAreaElement ? element.value : '';
    };

    if (method === 'get') {
      const editId = idOf(action, 'edit');
      if (editId) {
        event.preventDefault();
        startEdit(editId);
      }
      return;
    }

    if (form.classList.contains('add') && action === '/todos') {
      event.preventDefault();
      const title = field('title').trim();
      if (!title) {
        newTodoField()?.focus();
        return;
      }
      const dueDate = field('dueDate').trim() || null;
      const notes = field('notes');
      perform(() => api('POST', '/api/todos', { title, dueDate, notes }).then(() => undefined), { key: 'form.add [name="title"]' }, before);
      return;
    }

    const toggleId = idOf(action, 'toggle');
    if (toggleId) {
      event.preventDefault();
      const completed = field('completed') === 'true';
      // Optimistic: show the new state at once; a failure puts the old one back.
      const button = form.querySelector('button[role="checkbox"]');
      button?.setAttribute('aria-checked', String(completed));
      form.closest('li.todo')?.classList.toggle('completed', completed);
      const hiddenField = form.elements.namedItem('completed');
      if (hiddenField instanceof HTMLInputElement) hiddenField.value = String(!completed);
      perform(() => api('PATCH', `/api/todos/${toggleId}`, { completed }).then(() => undefined), focus, before);
      return;
    }

    const deleteId = idOf(action, 'delete');
    if (deleteId) {
      event.preventDefault();
      perform(() => api('DELETE', `/api/todos/${deleteId}`).then(() => undefined), focus, before);
      return;
    }

    if (action === '/todos/toggle-all') {
      event.preventDefault();
      const completed = field('completed') === 'true';
      perform(async () => {
        const ids = await idsWhere(!completed);
        await Promise.all(ids.map((id) => api('PATCH', `/api/todos/${id}`, { completed })));
      }, focus, before, true);
      return;
    }

    if (action === '/todos/clear-completed') {
      event.preventDefault();
      perform(async () => {
        const ids = await idsWhere(true);
        await Promise.all(ids.map((id) => api('DELETE', `/api/todos/${id}`)));
      }, focus, before, true);
      return;
    }

    if (action === '/todos/delete-selected') {
      event.preventDefault();
      const ids = Array.from(main.querySelectorAll<HTMLInputElement>('input.select:checked'), (box) => box.value);
      if (ids.length === 0) return;
      perform(async () => {
        await Promise.all(ids.map((id) => api('DELETE', `/api/todos/${id}`)));
      }, focus, before, true);
    }
    // Anything else (moving in manual order, search, log out) stays a plain form.
  });

  main.addEventListener('dblclick', (event) => {
    const title = event.target instanceof Element ? event.target.closest('li.todo .title') : null;
    const id = title?.closest<HTMLElement>('li.todo')?.dataset.id;
    if (id) startEdit(id);
  });

  /** Turns a todo's title into a text field: Enter or leaving saves, Escape cancels. */
  function startEdit(id: string): void {
    const item = main.querySelector<HTMLElement>(`li.todo[data-id="${id}"]`);
    const titleSpan = item?.querySelector<HTMLElement>('.title');
    if (!item || !titleSpan || item.querySelector('input.edit-title')) return;
    const before = main.innerHTML;
    const original = titleSpan.textContent ?? '';
    const input = document.createElement('input');
    input.type = 'text';
    input.className = 'edit-title';
    input.value = original;
    input.maxLength = 250;
    input.setAttribute('aria-label', `Edit ${original}`);
    titleSpan.hidden = true;
    titleSpan.after(input);
    input.focus();
    input.select();

    const editButtonKey = { key: `form[action="/todos/${id}/edit"] button`, todoId: id };
    let finished = false;
    const cancel = () => {
      if (finished) return;
      finished = true;
      input.remove();
      titleSpan.hidden = false;
      main.querySelector<HTMLElement>(editButtonKey.key)?.focus();
    };
    const save = () => {
      if (finished) return;
      const title = input.value.trim();
      if (title === original) {
        cancel();
        return;
      }
      finished = true;
      input.readOnly = true;
      const work = title
        ? () => api('PATCH', `/api/todos/${id}`, { title }).then(() => undefined)
        : () => api('DELETE', `/api/todos/${id}`).then(() => undefined);
      perform(work, editButtonKey, before);
    };
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        save();
      } else if (event.key === 'Escape') {
        event.preventDefault();
        cancel();
      }
    });
    input.addEventListener('blur', () => save());
  }
}
