// A person in a real browser: signs up, adds a todo through the form, sees it.
// The full web UI suite (issue 4) grows from here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { withAppInChromium } from '../support/chromium.ts';

const ARTIFACTS = 'test-artifacts/e2e';
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(options: object): Promise<{ violations: { id: string; nodes: unknown[] }[] }> } }).axe;
    const result = await axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((violation) => `${violation.id} (${violation.nodes.length})`);
  });
  return violations;
}

for (const javaScriptEnabled of [true, false]) {
  describe(`in Chromium, JavaScript ${javaScriptEnabled ? 'on' : 'off'}`, () => {
    const env = withAppInChromium();

    it('signs up, adds a todo with the form, and sees it listed', async () => {

      const { t, browser } = env;
      const context = await browser.newContext({ javaScriptEnabled });
      const page = await context.newPage();
      const requestedHosts = new Set<string>();
      page.on('request', (request) => requestedHosts.add(new URL(request.url()).host));

      await page.goto(`${t.baseUrl}/`);
      assert.match(page.url(), /\/login$/);
      await page.getByRole('link', { name: 'Sign up' }).click();
      await page.getByLabel('Username').fill('walter');
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
      if (javaScriptEnabled) assert.deepEqual(await axeViolations(page), []);
      await context.close();
    });

    if (javaScriptEnabled) {
      it('has no WCAG 2.1 A/AA violations on any page, in light and dark, and saves screenshots', async () => {
        const { t, browser } = env;
        await mkdir(ARTIFACTS, { recursive: true });
        for (const colorScheme of ['light', 'dark'] as const) {
          const context = await browser.newContext({ colorScheme });
          const page = await context.newPage();
          for (const path of ['/login', '/signup']) {
            await page.goto(`${t.baseUrl}${path}`);
            assert.deepEqual(await axeViolations(page), [], `${path} (${colorScheme})`);
          }
          await page.goto(`${t.baseUrl}/login`);
          await page.getByLabel('Username').fill(t.alice.username);
          await page.getByLabel('Password').fill(t.alice.password);
          await page.getByRole('button', { name: 'Log in' }).click();
          await page.waitForURL(`${t.baseUrl}/`);
          assert.deepEqual(await axeViolations(page), [], `empty list (${colorScheme})`);
          await t.request('/api/todos', { method: 'POST', json: { title: 'Water the plants', dueDate: '2020-01-01', notes: 'the ferns too' } });
          await t.request('/api/todos', { method: 'POST', json: { title: 'Done already', completed: true } });
          const todos = (await (await t.request('/api/todos')).json()) as { id: number }[];
          for (const path of ['/', '/active', '/completed', '/?sort=order', `/todos/${todos[0]?.id}/edit`, '/account', '/admin', '/admin/users', `/admin/todos/${todos[0]?.id}`]) {
            await page.goto(`${t.baseUrl}${path}`);
            assert.deepEqual(await axeViolations(page), [], `${path} (${colorScheme})`);
          }
          await page.goto(`${t.baseUrl}/`);
          await page.screenshot({ path: `${ARTIFACTS}/list-${colorScheme}.png`, fullPage: true });
          await t.request('/api/todos', { method: 'DELETE' });
          await context.close();
        }
        const mobile = await browser.newContext({ viewport: { width: 375, height: 740 } });
        const page = await mobile.newPage();
        await page.goto(`${t.baseUrl}/login`);
        await page.screenshot({ path: `${ARTIFACTS}/login-mobile.png`, fullPage: true });
        await mobile.close();
      });
    }
  });
}
