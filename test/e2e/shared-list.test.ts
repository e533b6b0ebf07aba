// Two people, two browsers, two app processes over one PostgreSQL: what one
// does in a shared list shows on the other's open page within a second,
// without a reload, and does not overwrite what the other is typing; a
// viewer cannot change anything; a stranger gets 404s.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { openServerDatabase } from '../../src/db/postgres.ts';
import { hashPassword } from '../../src/features/accounts/passwords.ts';
import { tokensRepository, usersRepository } from '../../src/features/accounts/repository.ts';
import type { ListJson } from '../../src/features/lists/schemas.ts';
import { keyedHash, newSecret } from '../../src/plugins/auth.ts';
import { TEST_SECRET_KEY, type TodoJson } from '../support/app.ts';
import { launchChromium } from '../support/chromium.ts';
import { startCliServer, type CliServer } from '../support/cli.ts';
import { createTestDatabase } from '../support/postgres.ts';

interface Person {
  username: string;
  password: string;
  token: string;
}

/** Whether the focused element matches a selector; run in the page (a string: the tests are typed without the DOM). */
const focusedIs = (page: Page, selector: string) =>
  page.evaluate(`document.activeElement?.matches(${JSON.stringify(selector)}) === true`);

/** How long a change may take to show on another person's open page. */
const LIVE_MS = 1000;

describe('a shared list, live, in two browsers on two app processes over one PostgreSQL', () => {
  let database: { url: string; drop(): Promise<void> };
  let dataDir: string;
  const servers: CliServer[] = [];
  let browser: Browser;
  const people: Record<'alice' | 'bob' | 'carol' | 'dave', Person> = {} as never;
  let list: ListJson;
  const latencies: number[] = [];

  before(async () => {
    database = await createTestDatabase();
    dataDir = await mkdtemp(path.join(tmpdir(), 'todoapp-shared-'));
    const env = { DATABASE_URL: database.url, SECRET_KEY: TEST_SECRET_KEY, DATA_DIR: dataDir };
    servers.push(await startCliServer({ ...env, MIGRATE_ON_START: 'true' }));
    servers.push(await startCliServer(env));
    const db = openServerDatabase(database.url, {
      poolSize: 2,
      connectTimeoutSeconds: 5,
      statementTimeoutMs: 10_000,
      retryBudgetMs: 5000,
    });
    try {
      for (const username of ['alice', 'bob', 'carol', 'dave'] as const) {
        const password = `${username}-password-for-tests`;
        const user = await usersRepository.create(db, {
          username,
          passwordHash: await hashPassword(password),
          admin: username === 'alice',
        });
        const token = newSecret();
        await tokensRepository.create(db, user.id, 'tests', keyedHash(TEST_SECRET_KEY, token));
        people[username] = { username, password, token };
      }
    } finally {
      await db.close();
    }
    browser = await launchChromium();
    list = await api<ListJson>(0, people.alice, 'POST', '/api/lists', { name: 'Household' }, 201);
    await api(0, people.alice, 'PUT', `/api/lists/${list.id}/members/bob`, { role: 'editor' }, 200);
    await api(0, people.alice, 'PUT', `/api/lists/${list.id}/members/carol`, { role: 'viewer' }, 200);
  });
  after(async () => {
    if (latencies.length > 0)
      console.log(
        `# live: ${latencies.length} changes, slowest ${Math.max(...latencies).toFixed(0)} ms, median ${latencies.sort((a, b) => a - b)[Math.floor(latencies.length / 2)]?.toFixed(0)} ms`,
      );
    await browser?.close();
    for (const server of servers) await server.stop();
    await database?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function api<T>(
    server: number,
    person: Person,
    method: string,
    pathname: string,
    body: unknown,
    status: number,
  ): Promise<T> {
    const response = await fetch(`${servers[server]!.baseUrl}${pathname}`, {
      method,
      headers: {
        authorization: `Bearer ${person.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    assert.equal(response.status, status, `${method} ${pathname}: ${text}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  async function open(server: number, person: Person, pathname: string): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    const base = servers[server]!.baseUrl;
    await page.goto(`${base}/login`);
    await page.getByLabel('Username').fill(person.username);
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${base}/`);
    await page.goto(`${base}${pathname}`);
    return page;
  }

  /** Waits for what the other page must show, and records how long after the change it took. */
  async function shows(since: number, what: () => Promise<unknown>): Promise<void> {
    await what();
    latencies.push(performance.now() - since);
  }

  it('shows an editor’s add, completion, edit and delete on the owner’s open page within 1 s, keeping what she types', async () => {
    const base = `/lists/${list.id}`;
    const [bobPage, alicePage] = await Promise.all([open(0, people.bob, base), open(1, people.alice, base)]);
    const aliceItem = (title: string) => alicePage.getByRole('checkbox', { name: title, exact: true });
    // Alice is half-way through typing a todo of her own.
    const newTodo = alicePage.getByLabel('New todo');
    await newTodo.fill('Call the plum');
    await newTodo.focus();

    let since = performance.now();
    await bobPage.getByLabel('New todo').fill('Milk');
    await bobPage.getByLabel('New todo').press('Enter');
    await bobPage.getByRole('checkbox', { name: 'Milk', exact: true }).waitFor();
    await shows(since, () => aliceItem('Milk').waitFor({ timeout: LIVE_MS }));
    assert.equal(await newTodo.inputValue(), 'Call the plum', 'her typing is kept');
    assert.ok(await focusedIs(alicePage, 'form.add input[name="title"]'), 'and her focus');
    await alicePage
      .getByRole('navigation', { name: 'Lists' })
      .getByText('1', { exact: true })
      .waitFor({ timeout: LIVE_MS });

    since = performance.now();
    await bobPage.getByRole('checkbox', { name: 'Milk', exact: true }).click();
    await shows(since, () =>
      alicePage.getByRole('checkbox', { name: 'Milk', exact: true, checked: true }).waitFor({ timeout: LIVE_MS }),
    );

    // Alice edits a todo while Bob changes it: her typing stays.
    const [milk] = await api<TodoJson[]>(0, people.alice, 'GET', `/api/lists/${list.id}/todos`, undefined, 200);
    assert.ok(milk);
    await alicePage.getByRole('button', { name: 'Edit Milk' }).click();
    const editing = alicePage.getByRole('textbox', { name: 'Edit Milk' });
    await editing.fill('Milk, the oat one');
    since = performance.now();
    await api(0, people.bob, 'PATCH', `/api/todos/${milk.id}`, { notes: 'two cartons' }, 200);
    await api(0, people.bob, 'POST', `/api/lists/${list.id}/todos`, { title: 'Bread' }, 201);
    await shows(since, () => aliceItem('Bread').waitFor({ timeout: LIVE_MS }));
    assert.equal(await editing.inputValue(), 'Milk, the oat one', 'the edit in progress is not overwritten');
    assert.ok(await focusedIs(alicePage, '.editor .edit-title'));
    await editing.press('Escape');

    since = performance.now();
    await bobPage.getByRole('button', { name: 'Edit Milk' }).click();
    await bobPage.getByRole('textbox', { name: 'Edit Milk' }).fill('Oat milk');
    await bobPage.getByRole('textbox', { name: 'Edit Milk' }).press('Enter');
    await bobPage.getByRole('checkbox', { name: 'Oat milk', exact: true }).waitFor();
    await shows(since, () => aliceItem('Oat milk').waitFor({ timeout: LIVE_MS }));

    since = performance.now();
    await bobPage.getByRole('button', { name: 'Delete Oat milk' }).click();
    await shows(since, () => aliceItem('Oat milk').waitFor({ state: 'detached', timeout: LIVE_MS }));
    assert.equal(await newTodo.inputValue(), 'Call the plum');
    await bobPage.context().close();
    await alicePage.context().close();
  });

  it('shows a viewer the changes read-only, refuses her every change, and loses the list when her access ends', async () => {
    const base = `/lists/${list.id}`;
    const carolPage = await open(1, people.carol, base);
    assert.equal(await carolPage.getByLabel('New todo').count(), 0, 'no add form');
    const since = performance.now();
    const added = await api<TodoJson>(0, people.alice, 'POST', `/api/lists/${list.id}/todos`, { title: 'Eggs' }, 201);
    await shows(since, () =>
      carolPage.getByRole('checkbox', { name: 'Eggs', exact: true }).waitFor({ timeout: LIVE_MS }),
    );
    assert.equal(await carolPage.getByRole('button', { name: 'Delete Eggs' }).count(), 0);
    await api(1, people.carol, 'PATCH', `/api/todos/${added.id}`, { completed: true }, 403);
    await api(1, people.carol, 'POST', `/api/lists/${list.id}/todos`, { title: 'x' }, 403);
    await api(1, people.carol, 'DELETE', `/api/todos/${added.id}`, undefined, 403);
    // Revoked: her open page leaves the list for her Inbox.
    await api(0, people.alice, 'DELETE', `/api/lists/${list.id}/members/carol`, undefined, 204);
    await carolPage.waitForURL(`${servers[1]!.baseUrl}/`, { timeout: 2 * LIVE_MS });
    assert.equal(await carolPage.getByRole('link', { name: 'Household' }).count(), 0);
    await carolPage.context().close();
  });

  it('sends an open page to the log-in once its session ends through the other app process (a password change)', async () => {
    const [stale, changing] = [await open(1, people.dave, '/'), await open(0, people.dave, '/account')];
    await changing.getByLabel('Current password').fill(people.dave.password);
    people.dave.password = 'dave-changed-password-for-tests';
    await changing.getByLabel('New password').fill(people.dave.password);
    const since = performance.now();
    await changing.getByRole('button', { name: 'Change password' }).click();
    await changing.waitForURL(/\/account\?notice=password$/);
    // Its stream ends (ChangeFeed.checkCredentials, told by NOTIFY), the browser's reconnection gets 401, and the page goes.
    await stale.waitForURL(`${servers[1]!.baseUrl}/login`, { timeout: 3 * LIVE_MS });
    console.log(
      `# the other session's page went to the log-in ${(performance.now() - since).toFixed(0)} ms after the change`,
    );
    await stale.context().close();
    await changing.context().close();
  });

  it('answers a stranger 404 for the list, its page and its todos', async () => {
    const davePage = await open(0, people.dave, '/');
    const response = await davePage.goto(`${servers[0]!.baseUrl}/lists/${list.id}`);
    assert.equal(response?.status(), 404);
    const [todo] = await api<TodoJson[]>(0, people.alice, 'GET', `/api/lists/${list.id}/todos`, undefined, 200);
    assert.ok(todo);
    await api(1, people.dave, 'GET', `/api/todos/${todo.id}`, undefined, 404);
    await api(1, people.dave, 'PATCH', `/api/todos/${todo.id}`, { completed: true }, 404);
    await api(1, people.dave, 'GET', `/api/lists/${list.id}/todos`, undefined, 404);
    await davePage.context().close();
  });
});
