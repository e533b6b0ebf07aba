// The list page with JavaScript on: every action goes through the JSON API and
// updates the page in place, without a navigation; a failed request says so in
// an alert and puts the previous state back.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestApp, type TestApp } from '../support/app.ts';
import { launchChromium } from '../support/chromium.ts';

interface ApiTodo {
  id: number;
  title: string;
  completed: boolean;
}

describe('in Chromium with JavaScript, the list page works in place', () => {
  let t: TestApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let navigations = 0;

  const todos = async (): Promise<ApiTodo[]> => (await (await t.request('/api/todos')).json()) as ApiTodo[];
  const add = (title: string, completed = false) => t.request('/api/todos', { method: 'POST', json: { title, completed } });
  /** Waits until the page has finished its requests and re-rendered. */
  const settled = () => page.locator('main:not([aria-busy])').waitFor();
  const checkbox = (name: string, checked?: boolean) => page.getByRole('checkbox', { name, exact: true, ...(checked === undefined ? {} : { checked }) });

  /** Fresh list: the page loaded once, a marker set that a navigation would wipe out. */
  async function open(): Promise<void> {
    await page.goto(`${t.baseUrl}/`);
    await page.evaluate(() => {
      (globalThis as unknown as { __marker: number }).__marker = 1;
    });
    navigations = 0;
  }

  async function assertNoNavigation(): Promise<void> {
    await settled();
    assert.equal(navigations, 0, 'no navigation of the page');
    assert.equal(await page.evaluate(() => (globalThis as unknown as { __marker?: number }).__marker), 1, 'the page was not reloaded');
  }

  const focusedLabel = () =>
    page.evaluate(() => {
      const active = (globalThis as unknown as { document: { activeElement: { getAttribute(name: string): string | null; tagName: string; name?: string } | null } }).document.activeElement;
      return active ? `${active.tagName}:${active.getAttribute('aria-label') ?? active.getAttribute('name') ?? ''}` : '';
    });

  before(async () => {
    t = await startTestApp('pglite');
    browser = await launchChromium();
    context = await browser.newContext({ javaScriptEnabled: true });
    page = await context.newPage();
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations += 1;
    });
    await page.goto(`${t.baseUrl}/login`);
    await page.getByLabel('Username').fill(t.alice.username);
    await page.getByLabel('Password').fill(t.alice.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${t.baseUrl}/`);
  });
  after(async () => {
    await context.close();
    await browser.close();
    await t.close();
  });
  beforeEach(async () => {
    await t.request('/api/todos', { method: 'DELETE' });
  });

  it('loads the bundle on the list page', async () => {
    await open();
    const src = await page.locator('script[type="module"]').getAttribute('src');
    assert.match(src ?? '', /^\/static\/app\.[0-9a-f]{10}\.js$/);
  });

  it('adds a todo with Enter, clears the fields and keeps focus in "New todo"', async () => {
    await open();
    await page.getByLabel('New todo').fill('  Buy milk  ');
    await page.getByLabel('Due date').fill('2026-12-24');
    await page.getByLabel('New todo').press('Enter');
    await checkbox('Buy milk').waitFor();
    await assertNoNavigation();
    assert.equal(await page.getByLabel('New todo').inputValue(), '');
    assert.equal(await page.getByLabel('Due date').inputValue(), '');
    assert.equal(await focusedLabel(), 'INPUT:title');
    const [todo] = (await todos()) as (ApiTodo & { dueDate: string | null })[];
    assert.equal(todo?.title, 'Buy milk');
    assert.equal(todo?.dueDate, '2026-12-24');

    await page.getByLabel('New todo').fill('   ');
    await page.getByLabel('New todo').press('Enter');
    await assertNoNavigation();
    assert.equal((await todos()).length, 1, 'a blank title is ignored');
  });

  it('toggles one todo and toggles all', async () => {
    await add('First');
    await add('Second');
    await open();
    const sent: Record<string, string>[] = [];
    const record = (request: { url(): string; method(): string; headers(): Record<string, string> }) => {
      if (new URL(request.url()).pathname.startsWith('/api/') && request.method() !== 'GET') sent.push(request.headers());
    };
    page.on('request', record);
    await checkbox('First', false).click();
    await checkbox('First', true).waitFor();
    await assertNoNavigation();
    page.off('request', record);
    const csrf = await page.locator('meta[name="csrf-token"]').getAttribute('content');
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.['x-csrf-token'], csrf);
    assert.equal(sent[0]?.['accept'], 'application/json');
    assert.match(sent[0]?.['idempotency-key'] ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(await focusedLabel(), 'BUTTON:First', 'focus stays on the same checkbox');
    assert.deepEqual((await todos()).map((todo) => [todo.title, todo.completed]), [['Second', false], ['First', true]]);

    await page.getByRole('checkbox', { name: 'Toggle all' }).click();
    await checkbox('Second', true).waitFor();
    await assertNoNavigation();
    assert.ok((await todos()).every((todo) => todo.completed));
    await page.getByRole('checkbox', { name: 'Toggle all', checked: true }).click();
    await checkbox('First', false).waitFor();
    await assertNoNavigation();
    assert.ok((await todos()).every((todo) => !todo.completed));
  });

  it('deletes one, deletes the selected ones, and clears the completed ones', async () => {
    for (const title of ['Keep', 'Done', 'Remove me', 'Pick me']) await add(title, title === 'Done');
    await open();
    await page.getByRole('button', { name: 'Delete Remove me' }).click();
    await checkbox('Remove me').waitFor({ state: 'detached' });
    await assertNoNavigation();
    assert.equal(await focusedLabel(), 'INPUT:title');

    await page.getByRole('checkbox', { name: 'Select Pick me' }).check();
    await page.getByRole('button', { name: 'Delete selected' }).click();
    await checkbox('Pick me').waitFor({ state: 'detached' });
    await assertNoNavigation();

    await page.getByRole('button', { name: 'Clear completed' }).click();
    await checkbox('Done').waitFor({ state: 'detached' });
    await assertNoNavigation();
    assert.deepEqual((await todos()).map((todo) => todo.title), ['Keep']);
  });

  it('edits a title in place: double-click and Enter saves, Escape cancels, an empty title deletes', async () => {
    await add('Old title');
    await add('Leave me');
    await open();
    await page.locator('li.todo .title', { hasText: 'Old title' }).dblclick();
    const field = page.getByRole('textbox', { name: 'Edit Old title' });
    await field.fill('  New title ');
    await field.press('Enter');
    await checkbox('New title').waitFor();
    await assertNoNavigation();
    assert.deepEqual((await todos()).map((todo) => todo.title).sort(), ['Leave me', 'New title']);

    await page.getByRole('button', { name: 'Edit Leave me' }).click();
    const other = page.getByRole('textbox', { name: 'Edit Leave me' });
    await other.fill('Changed my mind');
    await other.press('Escape');
    await other.waitFor({ state: 'detached' });
    assert.equal(await page.locator('li.todo .title', { hasText: 'Leave me' }).isVisible(), true);
    assert.equal(await focusedLabel(), 'BUTTON:Edit Leave me');
    await assertNoNavigation();
    assert.deepEqual((await todos()).map((todo) => todo.title).sort(), ['Leave me', 'New title']);

    await page.locator('li.todo .title', { hasText: 'New title' }).dblclick();
    await page.getByRole('textbox', { name: 'Edit New title' }).fill('   ');
    await page.getByRole('textbox', { name: 'Edit New title' }).press('Enter');
    await checkbox('New title').waitFor({ state: 'detached' });
    await assertNoNavigation();
    assert.deepEqual((await todos()).map((todo) => todo.title), ['Leave me']);
  });

  for (const failure of ['network error', '503'] as const) {
    it(`on a ${failure}, shows an alert and puts the checkbox back`, async () => {
      await add('Fragile');
      await open();
      await page.route('**/api/todos/**', (route) =>
        failure === '503' ? route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'Service unavailable' }) }) : route.abort(),
      );
      try {
        await checkbox('Fragile', false).click();
        const alert = page.getByRole('alert');
        await alert.filter({ hasText: failure === '503' ? 'Service unavailable' : 'Could not reach the server' }).waitFor();
        await assertNoNavigation();
        assert.equal(await checkbox('Fragile').getAttribute('aria-checked'), 'false');
        assert.equal(await focusedLabel(), 'BUTTON:Fragile', 'focus is not lost');
        assert.equal((await todos())[0]?.completed, false);
      } finally {
        await page.unrouteAll();
      }
    });
  }
});
