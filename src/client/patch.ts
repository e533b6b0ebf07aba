// Brings the page's <main> up to date with a freshly rendered one, changing
// only what differs, so that what the person is doing survives a change
// someone else made: the forms they may be typing in (new todo, search, new
// list) are kept as they are, a todo being edited keeps its editor (and the
// typing in it), and the todos are matched by id, so an unchanged todo (and
// a focused button in it) stays the same element. The caller puts the focus
// back on an equivalent control when the focused one had to be replaced.

/** Forms kept as they are: their fields hold what the person typed. */
const KEPT = 'form.add, form.view, form.new-list';

function signature(element: Element): string {
  return `${element.tagName}#${element.id}.${element.className}`;
}

function holdsFocusOrEdit(element: Element): boolean {
  return element.contains(document.activeElement) || element.querySelector('.editor') !== null;
}

/** The todos, matched by data-id: the one being edited stays, the others are replaced only where they changed. */
function patchTodos(list: Element, fresh: Element): void {
  const items = new Map<string, Element>();
  for (const item of Array.from(list.children)) items.set((item as HTMLElement).dataset.id ?? '', item);
  const editing = list.querySelector('.editor')?.closest('li.todo') ?? null;
  const wanted = Array.from(fresh.children);
  const ids = new Set(wanted.map((item) => (item as HTMLElement).dataset.id ?? ''));
  for (const [id, item] of items) if (!ids.has(id) && item !== editing) item.remove();
  let next = list.firstElementChild;
  for (const item of wanted) {
    const current = items.get((item as HTMLElement).dataset.id ?? '');
    let node: Element = item;
    if (current && (current === editing || current.outerHTML === item.outerHTML)) node = current;
    else if (current?.isConnected) {
      if (next === current) next = item;
      current.replaceWith(item);
    }
    if (node === next) next = node.nextElementSibling;
    else list.insertBefore(node, next);
  }
}

function patchElement(current: Element, fresh: Element): void {
  if (current instanceof HTMLDetailsElement && fresh instanceof HTMLDetailsElement) fresh.open = current.open;
  if (current.matches(KEPT) || current.outerHTML === fresh.outerHTML) return;
  if (current.matches('ul.todos') && fresh.matches('ul.todos')) {
    patchTodos(current, fresh);
    return;
  }
  if (!holdsFocusOrEdit(current)) {
    current.replaceWith(fresh);
    return;
  }
  patchChildren(current, fresh);
  for (const { name, value } of Array.from(fresh.attributes))
    if (current.getAttribute(name) !== value) current.setAttribute(name, value);
}

/**
 * Makes the children of `current` those of `fresh`, keeping each child that
 * has a counterpart of the same kind (tag, id, class) in the same order and
 * patching it, inserting the new ones and removing the ones that went (an
 * empty list's message, say, when its first todo arrives).
 */
function patchChildren(current: Element, fresh: Element): void {
  const now = Array.from(current.children);
  let next = 0;
  for (const wanted of Array.from(fresh.children)) {
    const match = now.findIndex((element, index) => index >= next && signature(element) === signature(wanted));
    if (match < 0) {
      current.insertBefore(wanted, now[next] ?? null);
      continue;
    }
    for (const gone of now.slice(next, match)) gone.remove();
    patchElement(now[match]!, wanted);
    next = match + 1;
  }
  for (const gone of now.slice(next)) gone.remove();
}

/** Makes `main` show `freshHtml` (the inner HTML of a fresh <main>). */
export function patchMain(main: HTMLElement, freshHtml: string): void {
  const template = document.createElement('template');
  template.innerHTML = freshHtml;
  const fresh = document.createElement('main');
  fresh.append(template.content);
  patchChildren(main, fresh);
}
