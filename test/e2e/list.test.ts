// Every behaviour of the list page (issue 4), as a person uses it in Chromium,
// found through accessible names only. One table of scenarios runs twice:
// with JavaScript (each action happens in place: no navigation, checked) and
// without (each action is a form post and a redirect). Where the page works
// differently without JavaScript — editing is a page of its own there — the
// scenario branches, but every behaviour is exercised in both modes.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import type { TestApp, TestUser, TodoJson } from '../support/app.ts';
import { withAppInChromium } from '../support/chromium.ts';

interface Mode {
  js: boolean;
  t: TestApp;
  browser: Browser;
  page: Page;
  context: BrowserContext;
  user: TestUser;
}

/** What a scenario works with: the page, and the same person's todos through the API. */
class ListPage {
  private navigations = 0;

  constructor(private readonly mode: Mode) {
    mode.page.on('framenavigated', (frame) => {
      if (frame === mode.page.mainFrame()) this.navigations += 1;
    });
  }

  get js(): boolean {
    return this.mode.js;
  }
  get page(): Page {
    return this.mode.page;
  }
  get browser(): Browser {
    return this.mode.browser;
  }
  url(path = '/'): string {
    return `${this.mode.t.baseUrl}${path}`;
  }

  /** The API as this person. */
  request(path: string, init: { method?: string; json?: unknown } = {}): Promise<Response> {
    return this.mode.t.request(path, { ...init, headers: { authorization: `Bearer ${this.mode.user.token}` } });
  }
  async todos(query = ''): Promise<TodoJson[]> {
    return (await (await this.request(`/api/todos${query}`)).json()) as TodoJson[];
  }
  /** Creates todos through the API, oldest first. */
  async seed(...todos: Record<string, unknown>[]): Promise<TodoJson[]> {
    const created: TodoJson[] = [];
    for (const todo of todos) {
      const response = await this.request('/api/todos', { method: 'POST', json: todo });
      assert.equal(response.status, 201);
      created.push((await response.json()) as TodoJson);
    }
    return created;
  }

  /** Loads a page of the list (a fresh document: the baseline for "no navigation"). */
  async open(path = '/'): Promise<void> {
    await this.page.goto(this.url(path));
    this.navigations = 0;
  }

  /**
   * Does something on the page and waits until its effect shows. With
   * JavaScript it must happen in place: no navigation, the same document.
   * Without, it is a form post answered by a redirect to a fresh page.
   */
  async act(action: () => Promise<unknown>): Promise<void> {
    if (!this.js) {
      const loaded = this.page.waitForEvent('load');
      await action();
      await loaded;
      return;
    }
    const before = this.navigations;
    await action();
    await this.page.locator('main:not([aria-busy])').waitFor();
    assert.equal(this.navigations, before, 'happens in place, without a navigation');
  }

  /** Does something that loads another page in either mode (links, GET forms). */
  async navigate(action: () => Promise<unknown>): Promise<void> {
    const loaded = this.page.waitForEvent('load');
    await action();
    await loaded;
    this.navigations = 0;
  }

  list(): Locator {
    return this.page.getByRole('list', { name: 'Todos' });
  }
  /** The completion checkbox of a todo: named by its title. */
  checkbox(title: string, checked?: boolean): Locator {
    return this.page.getByRole('checkbox', { name: title, exact: true, ...(checked === undefined ? {} : { checked }) });
  }
  item(title: string): Locator {
    return this.list()
      .getByRole('listitem')
      .filter({ has: this.checkbox(title) });
  }
  button(name: string): Locator {
    return this.page.getByRole('button', { name, exact: true });
  }
  /** The titles listed, top to bottom. */
  async titles(): Promise<string[]> {
    const titles: string[] = [];
    for (const item of await this.list().getByRole('listitem').all()) {
      titles.push((await item.getByRole('checkbox').first().getAttribute('aria-label')) ?? '');
    }
    return titles;
  }
  async counter(): Promise<string> {
    return (await this.page.getByRole('status').textContent())?.trim() ?? '';
  }
  /** With JavaScript: the accessible label of the focused element. */
  focused(): Promise<string> {
    return this.page.evaluate(`(() => {
      const element = document.activeElement;
      return element ? (element.getAttribute('aria-label') || element.getAttribute('name') || element.tagName) : '';
    })()`);
  }
}

interface Scenario {
  name: string;
  run(list: ListPage): Promise<void>;
}

const scenarios: Scenario[] = [
  {
    name: 'shows the empty state, then the counter with the right plural',
    async run(list) {
      await list.open();
      await list.page.getByText('Nothing to do yet. Add your first todo above.').waitFor();
      assert.equal(await list.counter(), '0 items left');
      assert.equal(
        await list.page.getByRole('checkbox', { name: 'Toggle all' }).count(),
        0,
        'no Toggle all without todos',
      );
      await list.page.getByLabel('New todo').fill('one');
      await list.act(() => list.page.getByLabel('New todo').press('Enter'));
      assert.equal(await list.counter(), '1 item left');
      await list.page.getByLabel('New todo').fill('two');
      await list.act(() => list.page.getByLabel('New todo').press('Enter'));
      assert.equal(await list.counter(), '2 items left');
      await list.act(() => list.checkbox('one').click());
      assert.equal(await list.counter(), '1 item left');
      assert.equal(await list.page.getByText('Nothing to do yet').count(), 0);
    },
  },
  {
    name: 'adds a todo with Enter: trimmed, with a due date and notes; focus back in "New todo"',
    async run(list) {
      await list.open();
      const { page } = list;
      await page.getByLabel('New todo').fill('   Buy milk  ');
      await page.getByLabel('Due date', { exact: true }).fill('2030-12-24');
      await page.getByLabel('Notes', { exact: true }).fill('two litres\nsemi-skimmed');
      await list.act(() => page.getByLabel('New todo').press('Enter'));
      const item = list.item('Buy milk');
      await item.getByText('Due Tue, Dec 24, 2030').waitFor();
      await item.getByText('semi-skimmed').waitFor();
      const [todo] = await list.todos();
      assert.deepEqual(
        [todo?.title, todo?.dueDate, todo?.notes, todo?.completed],
        ['Buy milk', '2030-12-24', 'two litres\nsemi-skimmed', false],
      );
      assert.equal(await page.getByLabel('New todo').inputValue(), '', 'the fields are cleared');
      assert.equal(await page.getByLabel('Due date', { exact: true }).inputValue(), '');
      assert.equal(await page.getByLabel('Notes', { exact: true }).inputValue(), '');
      if (list.js) assert.equal(await list.focused(), 'title', 'focus stays in "New todo"');
    },
  },
  {
    name: 'ignores an empty or blank title',
    async run(list) {
      await list.open();
      const { page } = list;
      await page.getByLabel('New todo').press('Enter'); // the browser refuses an empty required field: nothing is sent
      await page.getByLabel('New todo').fill('    ');
      await list.act(() => page.getByLabel('New todo').press('Enter'));
      assert.deepEqual(await list.todos(), [], 'nothing added');
      if (list.js) assert.equal(await page.getByRole('alert').textContent(), '', 'ignored quietly');
      else await page.getByRole('alert').getByText('The todo was not added').waitFor(); // the server says why
      await page.getByText('Nothing to do yet').waitFor();
    },
  },
  {
    name: 'toggles one todo complete, and back',
    async run(list) {
      await list.seed({ title: 'First' }, { title: 'Second' });
      await list.open();
      await list.act(() => list.checkbox('First', false).click());
      await list.checkbox('First', true).waitFor();
      assert.equal(await list.checkbox('Second').getAttribute('aria-checked'), 'false');
      if (list.js) assert.equal(await list.focused(), 'First', 'focus stays on the checkbox');
      assert.deepEqual(
        (await list.todos()).map((todo) => [todo.title, todo.completed]),
        [
          ['Second', false],
          ['First', true],
        ],
      );
      await list.act(() => list.checkbox('First', true).click());
      await list.checkbox('First', false).waitFor();
      assert.ok((await list.todos()).every((todo) => !todo.completed));
    },
  },
  {
    name: 'toggles all; Toggle all shows checked when every todo is done',
    async run(list) {
      await list.seed({ title: 'a' }, { title: 'b', completed: true });
      await list.open();
      const toggleAll = (checked: boolean) => list.page.getByRole('checkbox', { name: 'Toggle all', checked });
      await toggleAll(false).waitFor();
      await list.act(() => toggleAll(false).click());
      await toggleAll(true).waitFor();
      await list.checkbox('a', true).waitFor();
      assert.equal(await list.counter(), '0 items left');
      assert.ok((await list.todos()).every((todo) => todo.completed));
      await list.act(() => toggleAll(true).click());
      await list.checkbox('b', false).waitFor();
      assert.ok((await list.todos()).every((todo) => !todo.completed));
      // Completing the last open todo by hand checks Toggle all too.
      await list.act(() => list.checkbox('a').click());
      await toggleAll(false).waitFor();
      await list.act(() => list.checkbox('b').click());
      await toggleAll(true).waitFor();
    },
  },
  {
    name: 'edits title (trimmed), due date and notes; cancelling changes nothing; an empty title deletes',
    async run(list) {
      const [, other] = await list.seed({ title: 'Old title' }, { title: 'Leave me', notes: 'as I am' });
      const { page } = list;
      await list.open();
      if (list.js) {
        // Double-click the title: it becomes a field, Enter saves it trimmed.
        await list.item('Old title').getByText('Old title').dblclick();
        const field = page.getByRole('textbox', { name: 'Edit Old title' });
        assert.equal(await list.focused(), 'Edit Old title');
        await field.fill('  New title  ');
        await list.act(() => field.press('Enter'));
        await list.checkbox('New title').waitFor();
        assert.equal(await list.focused(), 'Edit New title', 'focus back on the Edit button');

        // The Edit button: due date and notes too; leaving the fields saves.
        await list.act(() => list.button('Edit New title').click());
        const item = list.item('New title');
        await item.getByLabel('Due date').fill('2031-01-02');
        await item.getByLabel('Notes').fill('with notes');
        await list.act(() => page.getByRole('heading', { name: 'Inbox' }).click());
        await list.item('New title').getByText('with notes').waitFor();

        // Escape cancels.
        await list.act(() => list.button('Edit Leave me').click());
        await page.getByRole('textbox', { name: 'Edit Leave me' }).fill('Changed my mind');
        await list.act(() => page.getByRole('textbox', { name: 'Edit Leave me' }).press('Escape'));
        await page.getByRole('textbox', { name: 'Edit Leave me' }).waitFor({ state: 'detached' });
        assert.equal(await list.focused(), 'Edit Leave me');

        // An empty title deletes.
        await list.item('New title').getByText('New title').dblclick();
        await page.getByRole('textbox', { name: 'Edit New title' }).fill('   ');
        await list.act(() => page.getByRole('textbox', { name: 'Edit New title' }).press('Enter'));
      } else {
        // The Edit button opens an edit page; Enter saves, trimmed; back to the list.
        await list.navigate(() => list.button('Edit Old title').click());
        assert.match(page.url(), /\/todos\/\d+\/edit/);
        await page.getByRole('heading', { name: 'Edit todo' }).waitFor();
        await page.getByLabel('Title').fill('  New title  ');
        await page.getByLabel('Due date').fill('2031-01-02');
        await page.getByLabel('Notes').fill('with notes');
        await list.navigate(() => page.getByLabel('Title').press('Enter'));
        assert.equal(page.url(), list.url('/'));
        await list.item('New title').getByText('with notes').waitFor();

        // Cancel is a link back: nothing changes.
        await list.navigate(() => list.button('Edit Leave me').click());
        await page.getByLabel('Title').fill('Changed my mind');
        await list.navigate(() => page.getByRole('link', { name: 'Cancel' }).click());
        assert.equal(page.url(), list.url('/'));

        // An empty title deletes.
        await list.navigate(() => list.button('Edit New title').click());
        await page.getByLabel('Title').fill('   ');
        await list.navigate(() => list.button('Save').click());
      }
      await list.checkbox('New title').waitFor({ state: 'detached' });
      assert.deepEqual(await list.titles(), ['Leave me']);
      assert.deepEqual(await list.todos(), [other], 'the other todo is as it was');
    },
  },
  {
    name: 'edits keep a changed due date and notes (checked through the API)',
    async run(list) {
      await list.seed({ title: 'Plan', dueDate: '2030-01-01', notes: 'old notes' });
      const { page } = list;
      await list.open();
      if (list.js) {
        await list.act(() => list.button('Edit Plan').click());
        await list.item('Plan').getByLabel('Due date').fill('');
        await list.item('Plan').getByLabel('Notes').fill('new notes');
        await list.act(() => list.item('Plan').getByLabel('Notes').press('Control+Enter'));
      } else {
        await list.navigate(() => list.button('Edit Plan').click());
        await page.getByLabel('Due date').fill('');
        await page.getByLabel('Notes').fill('new notes');
        await list.navigate(() => list.button('Save').click());
      }
      await list.item('Plan').getByText('new notes').waitFor();
      assert.equal(await list.item('Plan').getByText(/^Due/).count(), 0, 'no due date shown');
      const [todo] = await list.todos();
      assert.deepEqual([todo?.title, todo?.dueDate, todo?.notes], ['Plan', null, 'new notes']);
    },
  },
  {
    name: 'deletes one todo',
    async run(list) {
      await list.seed({ title: 'Keep' }, { title: 'Remove me' });
      await list.open();
      await list.act(() => list.button('Delete Remove me').click());
      await list.checkbox('Remove me').waitFor({ state: 'detached' });
      assert.deepEqual(await list.titles(), ['Keep']);
      assert.deepEqual(
        (await list.todos()).map((todo) => todo.title),
        ['Keep'],
      );
      if (list.js) assert.equal(await list.focused(), 'title', 'focus goes to "New todo", not lost');
    },
  },
  {
    name: 'deletes several selected todos together',
    async run(list) {
      await list.seed({ title: 'a' }, { title: 'b' }, { title: 'c' }, { title: 'd' });
      await list.open();
      await list.page.getByRole('checkbox', { name: 'Select a', exact: true }).check();
      await list.page.getByRole('checkbox', { name: 'Select c', exact: true }).check();
      await list.page.getByRole('checkbox', { name: 'Select d', exact: true }).check();
      await list.act(() => list.button('Delete selected').click());
      await list.checkbox('a').waitFor({ state: 'detached' });
      assert.deepEqual(await list.titles(), ['b']);
      assert.deepEqual(
        (await list.todos()).map((todo) => todo.title),
        ['b'],
      );
    },
  },
  {
    name: 'shows Clear completed only when some are completed, and clears them',
    async run(list) {
      await list.seed({ title: 'open' }, { title: 'finished' });
      await list.open();
      assert.equal(await list.button('Clear completed').count(), 0, 'hidden while none is completed');
      await list.act(() => list.checkbox('finished').click());
      await list.button('Clear completed').waitFor();
      await list.act(() => list.button('Clear completed').click());
      await list.checkbox('finished').waitFor({ state: 'detached' });
      assert.equal(await list.button('Clear completed').count(), 0);
      assert.deepEqual(
        (await list.todos()).map((todo) => todo.title),
        ['open'],
      );
    },
  },
  {
    name: 'filters All / Active / Completed: the current one is marked and survives a reload',
    async run(list) {
      await list.seed(
        { title: 'open task' },
        { title: 'finished task', completed: true },
        { title: 'another open one' },
      );
      const { page } = list;
      await list.open();
      const filters = page.getByRole('navigation', { name: 'Filter todos' });
      const current = async () => filters.locator('[aria-current="page"]').textContent();
      assert.equal(await current(), 'All');
      await list.navigate(() => filters.getByRole('link', { name: 'Active' }).click());
      assert.equal(page.url(), list.url('/active'));
      assert.equal(await current(), 'Active');
      assert.deepEqual(await list.titles(), ['another open one', 'open task']);
      await list.navigate(() => page.reload());
      assert.equal(await current(), 'Active', 'the filter is the URL');
      assert.deepEqual(await list.titles(), ['another open one', 'open task']);
      // Completing a todo in the Active view takes it out of the view.
      await list.act(() => list.checkbox('open task').click());
      await list.checkbox('open task').waitFor({ state: 'detached' });
      assert.equal(page.url(), list.url('/active'));
      await list.navigate(() => filters.getByRole('link', { name: 'Completed' }).click());
      assert.equal(await current(), 'Completed');
      assert.deepEqual(await list.titles(), ['finished task', 'open task']);
      await list.navigate(() => filters.getByRole('link', { name: 'All' }).click());
      assert.equal(page.url(), list.url('/'));
      assert.equal((await list.titles()).length, 3);
    },
  },
  {
    name: 'shows due dates readably and marks overdue ones in words',
    async run(list) {
      await list.seed(
        { title: 'late', dueDate: '2000-01-01' },
        { title: 'late but done', dueDate: '2000-01-01', completed: true },
        { title: 'future', dueDate: '2999-06-15' },
        { title: 'undated' },
      );
      await list.open();
      await list.item('late').getByText('Due Sat, Jan 1, 2000 Overdue').waitFor();
      await list.item('future').getByText('Due Sat, Jun 15, 2999').waitFor();
      for (const title of ['late but done', 'future', 'undated'])
        assert.equal(await list.item(title).getByText('Overdue').count(), 0, title);
      assert.equal(await list.item('undated').getByText(/Due/).count(), 0);
    },
  },
  {
    name: 'sorts newest first (default), by due date, and in manual order moved up and down',
    async run(list) {
      await list.seed(
        { title: 'pay rent', dueDate: '2030-05-01' },
        { title: 'call plumber' },
        { title: 'buy milk', dueDate: '2030-01-01' },
      );
      const { page } = list;
      await list.open();
      assert.deepEqual(await list.titles(), ['buy milk', 'call plumber', 'pay rent']);
      assert.equal(
        await page.getByRole('button', { name: 'Move buy milk up' }).count(),
        0,
        'moving is for manual order',
      );
      await page.getByLabel('Sort').selectOption({ label: 'Due date' });
      await list.navigate(() => list.button('Apply').click());
      assert.deepEqual(await list.titles(), ['buy milk', 'pay rent', 'call plumber']);
      await page.getByLabel('Sort').selectOption({ label: 'Manual order' });
      await list.navigate(() => list.button('Apply').click());
      assert.deepEqual(await list.titles(), ['pay rent', 'call plumber', 'buy milk']);

      await list.act(() => list.button('Move buy milk up').click());
      assert.deepEqual(await list.titles(), ['pay rent', 'buy milk', 'call plumber']);
      if (list.js) assert.equal(await list.focused(), 'Move buy milk up', 'focus stays on the moved todo’s button');
      await list.act(() => list.button('Move buy milk up').click());
      assert.deepEqual(await list.titles(), ['buy milk', 'pay rent', 'call plumber']);
      await list.act(() => list.button('Move pay rent down').click());
      assert.deepEqual(await list.titles(), ['buy milk', 'call plumber', 'pay rent']);
      if (list.js) assert.equal(await list.focused(), 'Move pay rent down');
      await list.act(() => list.button('Move buy milk up').click());
      assert.deepEqual(await list.titles(), ['buy milk', 'call plumber', 'pay rent'], 'the first stays first');
      await list.navigate(() => page.reload());
      assert.deepEqual(await list.titles(), ['buy milk', 'call plumber', 'pay rent'], 'the order is kept');
      assert.deepEqual(
        (await list.todos('?sort=order')).map((todo) => todo.title),
        ['buy milk', 'call plumber', 'pay rent'],
      );
    },
  },
  {
    name: 'searches titles and notes',
    async run(list) {
      await list.seed(
        { title: 'pay rent' },
        { title: 'call plumber', notes: 'about the RENT increase' },
        { title: 'buy milk' },
      );
      const { page } = list;
      await list.open();
      const search = page.getByRole('searchbox', { name: 'Search' });
      await search.fill('rent');
      await list.navigate(() => search.press('Enter'));
      assert.deepEqual(await list.titles(), ['call plumber', 'pay rent']);
      assert.equal(await search.inputValue(), 'rent');
      await search.fill('zzz');
      await list.navigate(() => search.press('Enter'));
      await page.getByText('No todo matches your search.').waitFor();
      assert.deepEqual(await list.titles(), []);
    },
  },
  {
    name: 'two tabs agree after a reload',
    async run(list) {
      await list.seed({ title: 'shared' });
      await list.open();
      const other = await list.page.context().newPage();
      try {
        await other.goto(list.url('/'));
        await list.page.getByLabel('New todo').fill('from tab A');
        await list.act(() => list.page.getByLabel('New todo').press('Enter'));
        await list.act(() => list.checkbox('shared').click());
        await other.reload();
        await other.getByRole('checkbox', { name: 'from tab A', exact: true }).waitFor();
        await other.getByRole('checkbox', { name: 'shared', exact: true, checked: true }).waitFor();
        await other.getByRole('button', { name: 'Delete from tab A' }).click();
        await other.getByRole('checkbox', { name: 'from tab A', exact: true }).waitFor({ state: 'detached' });
        await list.navigate(() => list.page.reload());
        assert.deepEqual(await list.titles(), ['shared']);
      } finally {
        await other.close();
      }
    },
  },
  {
    name: 'sends a logged-out visitor to log in',
    async run(list) {
      const visitor = await list.browser.newContext({ javaScriptEnabled: list.js });
      try {
        const page = await visitor.newPage();
        await page.goto(list.url('/'));
        assert.equal(page.url(), list.url('/login'));
        await page.getByRole('heading', { name: 'Log in' }).waitFor();
        await page.goto(list.url('/completed'));
        assert.equal(page.url(), list.url('/login?next=%2Fcompleted'));
      } finally {
        await visitor.close();
      }
    },
  },
];

const env = withAppInChromium();

for (const js of [true, false]) {
  describe(`the list page in Chromium, JavaScript ${js ? 'on' : 'off'}`, () => {
    const mode = { js } as Mode;
    let list: ListPage;

    before(async () => {
      mode.t = env.t;
      mode.browser = env.browser;
      mode.user = await env.t.createUser(js ? 'scripted' : 'plain');
      mode.context = await env.browser.newContext({ javaScriptEnabled: js });
      mode.page = await mode.context.newPage();
      await mode.page.goto(`${env.t.baseUrl}/login`);
      await mode.page.getByLabel('Username').fill(mode.user.username);
      await mode.page.getByLabel('Password').fill(mode.user.password);
      await mode.page.getByRole('button', { name: 'Log in' }).click();
      await mode.page.waitForURL(`${env.t.baseUrl}/`);
      list = new ListPage(mode);
    });
    after(() => mode.context?.close());
    beforeEach(async () => {
      assert.equal((await list.request('/api/todos', { method: 'DELETE' })).status, 204);
    });

    for (const scenario of scenarios) it(scenario.name, () => scenario.run(list));
  });
}
