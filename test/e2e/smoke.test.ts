// Every page in Chromium: a person signs up and adds a todo (with JavaScript
// and without), axe-core finds no WCAG 2.1 A/AA violation on any page in the
// light and the dark theme, nothing is wider than a 375 px phone, no request
// leaves for another host, and screenshots of the main pages (light, dark,
// mobile) land in test-artifacts/e2e for people to look at.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import type { BrowserContextOptions, Page } from 'playwright-core';
import type { TodoJson } from '../support/app.ts';
import { withAppInChromium } from '../support/chromium.ts';

const ARTIFACTS = 'test-artifacts/e2e';
const PHONE_WIDTH = 375;
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: { run(options: object): Promise<{ violations: { id: string; nodes: { target: unknown }[] }[] }> };
      }
    ).axe;
    const result = await axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map(
      (violation) => `${violation.id} (${violation.nodes.map((node) => JSON.stringify(node.target)).join(', ')})`,
    );
  });
  return violations;
}

/** How much wider than the viewport the page is, and the widest culprits (for the failure message). */
async function overflow(page: Page): Promise<{ scrollWidth: number; culprits: string[] }> {
  return page.evaluate(`(() => {
    const width = document.documentElement.clientWidth;
    const culprits = [...document.querySelectorAll('body *')]
      .filter((element) => element.getBoundingClientRect().right > width + 0.5)
      .slice(0, 5)
      .map((element) => element.tagName.toLowerCase() + (element.className ? '.' + String(element.className).split(' ').join('.') : '') + ' → ' + Math.round(element.getBoundingClientRect().right));
    return { scrollWidth: document.documentElement.scrollWidth, culprits };
  })()`);
}

/** Todos that show every part of an item: due, overdue, notes, completed, long words. */
const SAMPLE_TODOS = [
  {
    title: 'Renew the passport before the summer trip',
    dueDate: '2020-01-01',
    notes: 'Photo booth at the station; bring the old passport.',
  },
  { title: 'Water the plants', dueDate: '2030-06-15', notes: 'The ferns too.' },
  {
    title: 'Check build 3f2a9c1b7d4e5f60718293a4b5c6d7e8f90a1b2c before the review',
    notes: 'Attach quarterly_report_2026_final_version_3_really_final_this_time.pdf',
  },
  { title: 'Call the plumber', completed: true },
  { title: 'Buy bread', dueDate: '2030-01-10' },
];

const env = withAppInChromium();

for (const javaScriptEnabled of [true, false]) {
  describe(`in Chromium, JavaScript ${javaScriptEnabled ? 'on' : 'off'}`, () => {
    it('signs up, adds a todo with the form, and sees it listed; no request leaves for another host', async () => {
      const { t, browser } = env;
      const context = await browser.newContext({ javaScriptEnabled });
      const page = await context.newPage();
      const requestedHosts = new Set<string>();
      page.on('request', (request) => requestedHosts.add(new URL(request.url()).host));
      const username = javaScriptEnabled ? 'walter' : 'wanda';

      await page.goto(`${t.baseUrl}/`);
      assert.match(page.url(), /\/login$/);
      await page.getByRole('link', { name: 'Sign up' }).click();
      await page.getByLabel('Username').fill(username);
      await page.getByLabel('Password').fill('a long enough passphrase');
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.waitForURL(`${t.baseUrl}/`);

      await page.getByLabel('New todo').fill('Buy <b>bread</b>');
      await page.getByLabel('Due date').fill('2026-12-24');
      await page.getByRole('button', { name: 'Add' }).click();
      await page.waitForURL(`${t.baseUrl}/`);
      // With JavaScript the todo is added in place (no navigation), so wait for it to appear.
      await page.getByRole('listitem').filter({ hasText: 'Buy <b>bread</b>' }).waitFor();
      assert.equal(await page.getByRole('listitem').filter({ hasText: 'Buy <b>bread</b>' }).count(), 1);

      assert.deepEqual([...requestedHosts], [new URL(t.baseUrl).host], 'no request leaves for another host');
      await context.close();
    });
  });
}

describe('every page, light and dark and phone-sized', () => {
  const looks: { name: string; options: BrowserContextOptions; axe: boolean }[] = [
    { name: 'light', options: { colorScheme: 'light' }, axe: true },
    { name: 'dark', options: { colorScheme: 'dark' }, axe: true },
    {
      name: 'mobile',
      options: {
        colorScheme: 'light',
        viewport: { width: PHONE_WIDTH, height: 740 },
        deviceScaleFactor: 2,
        isMobile: true,
        hasTouch: true,
      },
      axe: false,
    },
    {
      name: 'mobile-dark',
      options: {
        colorScheme: 'dark',
        viewport: { width: PHONE_WIDTH, height: 740 },
        deviceScaleFactor: 2,
        isMobile: true,
        hasTouch: true,
      },
      axe: false,
    },
  ];

  for (const look of looks) {
    it(`${look.axe ? 'has no WCAG 2.1 A/AA violations, ' : ''}${look.options.viewport ? `fits ${PHONE_WIDTH} px, ` : ''}and is photographed: ${look.name}`, async () => {
      const { t, browser } = env;
      await mkdir(ARTIFACTS, { recursive: true });
      const context = await browser.newContext(look.options);
      const page = await context.newPage();
      const problems: string[] = [];
      page.setDefaultTimeout(10_000);
      try {
        /** Checks the page as it is now; photographs it when it is one of the main pages. */
        async function check(label: string, screenshot?: string): Promise<void> {
          if (look.axe) {
            const violations = await axeViolations(page);
            if (violations.length > 0) problems.push(`${label}: axe: ${violations.join('; ')}`);
          }
          if (look.options.viewport) {
            const { scrollWidth, culprits } = await overflow(page);
            if (scrollWidth > PHONE_WIDTH) problems.push(`${label}: ${scrollWidth} px wide (${culprits.join(', ')})`);
          }
          if (screenshot)
            await page.screenshot({ path: `${ARTIFACTS}/${screenshot}-${look.name}.png`, fullPage: true });
          // Stop at the first page with a problem: a page too wide may also be one nothing can be clicked on.
          assert.deepEqual(problems, []);
        }
        const visit = async (path: string, screenshot?: string) => {
          await page.goto(`${t.baseUrl}${path}`);
          await check(path, screenshot);
        };

        await visit('/login', 'login');
        await visit('/signup', 'signup');
        await page.goto(`${t.baseUrl}/login`);
        await page.getByLabel('Username').fill(t.alice.username);
        await page.getByLabel('Password').fill(t.alice.password);
        await page.getByRole('button', { name: 'Log in' }).click();
        await page.waitForURL(`${t.baseUrl}/`);
        await check('/ (empty)', 'list-empty');

        const todos: TodoJson[] = [];
        for (const todo of SAMPLE_TODOS)
          todos.push((await (await t.request('/api/todos', { method: 'POST', json: todo })).json()) as TodoJson);
        const id = todos[0]?.id;
        await visit('/', 'list');
        // Editing in place (the script's editor).
        await page.getByRole('button', { name: `Edit ${SAMPLE_TODOS[1]?.title}` }).click();
        await page.getByRole('textbox', { name: `Edit ${SAMPLE_TODOS[1]?.title}` }).waitFor();
        await check('/ (editing in place)', 'list-editing');
        await page.getByRole('textbox', { name: `Edit ${SAMPLE_TODOS[1]?.title}` }).press('Escape');
        await visit('/?sort=order', 'list-manual-order');
        for (const path of ['/active', '/completed', '/?q=nothing-matches', '/?sort=due']) await visit(path);
        await visit(`/todos/${id}/edit`, 'edit');
        await visit('/account', 'account');
        await visit('/admin', 'admin');
        await visit('/admin/users', 'admin-users');
        await visit('/admin/replication');
        await visit(`/admin/todos/${id}`);
        await visit('/todos/2000000000/edit', 'not-found');
      } finally {
        await t.request('/api/todos', { method: 'DELETE' });
        await context.close();
      }
    });
  }
});
