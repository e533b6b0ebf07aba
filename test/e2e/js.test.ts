// What only the script does (the behaviours both modes share are in
// list.test.ts): every action is one API request carrying the CSRF token and
// an Idempotency-Key, a retry repeats the key, and a failed request says so in
// an alert and leaves the page as it was.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { BrowserContext, Page, Request, Route } from 'playwright-core';
import type { TodoJson } from '../support/app.ts';
import { withAppInChromium } from '../support/chromium.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Sent {
  method: string;
  path: string;
  body: unknown;
  headers: Record<string, string>;
}

describe('in Chromium with JavaScript', () => {
  const env = withAppInChromium();
  let context: BrowserContext;
  let page: Page;
  let sent: Sent[] = [];

  const todos = async (): Promise<TodoJson[]> => (await (await env.t.request('/api/todos')).json()) as TodoJson[];
  const add = async (title: string, fields: Record<string, unknown> = {}): Promise<TodoJson> =>
    (await (await env.t.request('/api/todos', { method: 'POST', json: { title, ...fields } })).json()) as TodoJson;
  const settled = () => page.locator('main:not([aria-busy])').waitFor();
  const checkbox = (name: string, checked?: boolean) =>
    page.getByRole('checkbox', { name, exact: true, ...(checked === undefined ? {} : { checked }) });
  const focusedLabel = () =>
    page.evaluate(
      'document.activeElement?.getAttribute("aria-label") ?? document.activeElement?.getAttribute("name") ?? ""',
    );
  const open = async (path = '/') => {
    await page.goto(`${env.t.baseUrl}${path}`);
    sent = [];
  };
  /** Does something and returns the API changes it sent. */
  async function changesSentBy(action: () => Promise<unknown>): Promise<Sent[]> {
    sent = [];
    await action();
    await settled();
    return sent.filter((request) => request.method !== 'GET');
  }

  before(async () => {
    context = await env.browser.newContext();
    page = await context.newPage();
    page.on('request', (request: Request) => {
      const url = new URL(request.url());
      if (!url.pathname.startsWith('/api/')) return;
      sent.push({
        method: request.method(),
        path: url.pathname + url.search,
        body: request.postDataJSON() as unknown,
        headers: request.headers(),
      });
    });
    await page.goto(`${env.t.baseUrl}/login`);
    await page.getByLabel('Username').fill(env.t.alice.username);
    await page.getByLabel('Password').fill(env.t.alice.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${env.t.baseUrl}/`);
  });
  after(() => context?.close());
  beforeEach(async () => {
    await page.unrouteAll();
    await env.t.request('/api/todos', { method: 'DELETE' });
  });

  it('loads the fingerprinted bundle on the list page', async () => {
    await open();
    const src = await page.locator('script[type="module"]').getAttribute('src');
    assert.match(src ?? '', /^\/static\/app\.[0-9a-f]{10}\.js$/);
  });

  it('does each action as one API request with the CSRF token and its own Idempotency-Key', async () => {
    const [first, second] = [await add('First'), await add('Second', { completed: true })];
    await open('/?sort=order');
    const csrf = await page.locator('meta[name="csrf-token"]').getAttribute('content');
    const actions: [string, () => Promise<unknown>, Omit<Sent, 'headers'>][] = [
      [
        'toggle',
        () => checkbox('First').click(),
        { method: 'PATCH', path: `/api/todos/${first?.id}`, body: { completed: true } },
      ],
      [
        'toggle all',
        () => page.getByRole('checkbox', { name: 'Toggle all' }).click(),
        { method: 'PATCH', path: `/api/lists/${env.t.alice.inboxId}/todos`, body: { completed: false } },
      ],
      [
        'move',
        () => page.getByRole('button', { name: 'Move Second up' }).click(),
        { method: 'POST', path: `/api/todos/${second?.id}/move`, body: { direction: 'up' } },
      ],
      [
        'delete selected',
        async () => {
          await page.getByRole('checkbox', { name: 'Select Second' }).check();
          await page.getByRole('button', { name: 'Delete selected' }).click();
        },
        { method: 'POST', path: `/api/lists/${env.t.alice.inboxId}/todos/delete`, body: { ids: [second?.id] } },
      ],
      [
        'clear completed',
        async () => {
          await checkbox('First').click();
          await settled();
          sent = [];
          await page.getByRole('button', { name: 'Clear completed' }).click();
        },
        { method: 'DELETE', path: `/api/lists/${env.t.alice.inboxId}/todos?completed=true`, body: null },
      ],
    ];
    const keys = new Set<string>();
    for (const [name, action, expected] of actions) {
      const changes = await changesSentBy(action);
      assert.equal(changes.length, 1, `${name}: one request`);
      const [change] = changes;
      assert.deepEqual({ method: change?.method, path: change?.path, body: change?.body }, expected, name);
      assert.equal(change?.headers['x-csrf-token'], csrf, name);
      assert.equal(change?.headers['accept'], 'application/json', name);
      assert.match(change?.headers['idempotency-key'] ?? '', UUID, name);
      keys.add(change?.headers['idempotency-key'] ?? '');
    }
    assert.equal(keys.size, actions.length, 'a fresh key for every action');
    assert.deepEqual(await todos(), []);
  });

  it('retries a request whose connection was lost once, with the same Idempotency-Key', async () => {
    const todo = await add('Flaky network');
    await open();
    let attempts = 0;
    await page.route('**/api/todos/*', async (route: Route) => {
      attempts += 1;
      if (attempts === 1) await route.abort('connectionreset');
      else await route.continue();
    });
    const changes = await changesSentBy(() => checkbox('Flaky network').click());
    await checkbox('Flaky network', true).waitFor();
    assert.equal(changes.length, 2, 'tried twice');
    assert.equal(changes[0]?.headers['idempotency-key'], changes[1]?.headers['idempotency-key']);
    assert.equal(await page.getByRole('alert').textContent(), '', 'no alert: the retry worked');
    assert.equal((await todos()).find((each) => each.id === todo.id)?.completed, true);
  });

  for (const failure of ['network error', '503'] as const) {
    it(`on a ${failure}, says so in an alert and puts the checkbox back, keeping focus`, async () => {
      await add('Fragile');
      await open();
      await page.route('**/api/todos/**', (route) =>
        failure === '503'
          ? route.fulfill({
              status: 503,
              contentType: 'application/json',
              body: JSON.stringify({ error: 'Service unavailable' }),
            })
          : route.abort(),
      );
      await checkbox('Fragile', false).click();
      await page
        .getByRole('alert')
        .filter({ hasText: failure === '503' ? 'Service unavailable' : 'Could not reach the server' })
        .waitFor();
      await settled();
      assert.equal(await checkbox('Fragile').getAttribute('aria-checked'), 'false');
      assert.equal(await focusedLabel(), 'Fragile', 'focus is not lost');
      assert.equal((await todos())[0]?.completed, false);
      // The next action that works clears the alert.
      await page.unrouteAll();
      await checkbox('Fragile', false).click();
      await checkbox('Fragile', true).waitFor();
      await settled();
      assert.equal(await page.getByRole('alert').textContent(), '');
    });
  }

  it('on a failed bulk delete, keeps the list and the selection as they were', async () => {
    for (const title of ['one', 'two', 'three']) await add(title);
    await open();
    await page.route('**/api/lists/*/todos/delete', (route) =>
      route.fulfill({
        status: 500,
        contentType: 'application/json',
        body: JSON.stringify({ error: 'Internal server error' }),
      }),
    );
    await page.getByRole('checkbox', { name: 'Select one' }).check();
    await page.getByRole('checkbox', { name: 'Select three' }).check();
    await page.getByRole('button', { name: 'Delete selected' }).click();
    await page.getByRole('alert').filter({ hasText: 'Internal server error' }).waitFor();
    await settled();
    assert.equal(await page.getByRole('list', { name: 'Todos' }).getByRole('listitem').count(), 3);
    assert.equal(await page.getByRole('checkbox', { name: 'Select one' }).isChecked(), true, 'the selection is kept');
    assert.equal(await page.getByRole('checkbox', { name: 'Select two' }).isChecked(), false);
    assert.equal((await todos()).length, 3);
  });

  it('on a failed add, keeps what was typed; on a failed edit, shows the old title again', async () => {
    await add('Unchanged');
    await open();
    await page.route(/\/api\/(lists\/\d+\/)?todos/, (route) =>
      route.request().method() === 'GET'
        ? route.continue()
        : route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"Database unavailable"}' }),
    );
    await page.getByLabel('New todo').fill('Not lost');
    await page.getByLabel('New todo').press('Enter');
    await page.getByRole('alert').filter({ hasText: 'Database unavailable' }).waitFor();
    await settled();
    assert.equal(await page.getByLabel('New todo').inputValue(), 'Not lost');

    await page.getByRole('button', { name: 'Edit Unchanged' }).click();
    await page.getByRole('textbox', { name: 'Edit Unchanged' }).fill('Changed');
    await page.getByRole('textbox', { name: 'Edit Unchanged' }).press('Enter');
    await settled();
    await checkbox('Unchanged').waitFor();
    assert.equal(await page.getByRole('textbox', { name: 'Edit Unchanged' }).count(), 0, 'the editor is gone');
    assert.equal(await focusedLabel(), 'Edit Unchanged', 'focus on the Edit button');
    assert.deepEqual(
      (await todos()).map((todo) => todo.title),
      ['Unchanged'],
    );
  });
});
