// Everything with the keyboard alone, in Chromium with JavaScript: log in,
// add, complete and delete a todo; focus is always visible and never lost.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { withAppInChromium } from '../support/chromium.ts';

/** The focused element's accessible label (aria-label, else its text), and whether a focus outline shows. */
// Runs in the page (as a string: the test code is typed without the DOM).
const DESCRIBE_FOCUS = `(() => {
  const element = document.activeElement;
  if (!element || element === document.body) return { label: '', outlined: false, tag: 'body' };
  const style = getComputedStyle(element);
  return {
    label: element.getAttribute('aria-label') ?? element.textContent?.trim() ?? '',
    outlined: style.outlineStyle !== 'none' && style.outlineWidth !== '0px',
    tag: element.tagName.toLowerCase(),
  };
})()`;

function focused(page: Page): Promise<{ label: string; outlined: boolean; tag: string }> {
  return page.evaluate(DESCRIBE_FOCUS);
}

/** Autofocus is applied when the page next renders, which a busy machine can put after the load event. */
async function waitForFocusOn(page: Page, name: string): Promise<void> {
  await page.waitForFunction(`document.activeElement?.getAttribute('name') === ${JSON.stringify(name)}`);
}

async function tabTo(page: Page, label: string): Promise<void> {
  for (let presses = 0; presses < 60; presses++) {
    await page.keyboard.press('Tab');
    const now = await focused(page);
    if (now.label === label) {
      assert.ok(now.outlined, `focus on "${label}" is visible`);
      return;
    }
  }
  assert.fail(`Tab never reached "${label}"`);
}

describe('keyboard only, in Chromium', () => {
  const env = withAppInChromium();

  it('logs in, adds, completes and deletes a todo without a mouse', async () => {
    const { t, browser } = env;
    const page = await browser.newPage();
    await page.goto(`${t.baseUrl}/login`);
    await waitForFocusOn(page, 'username');
    await page.keyboard.type(t.alice.username); // the username field has focus on arrival
    await page.keyboard.press('Tab');
    await page.keyboard.type(t.alice.password);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${t.baseUrl}/`);
    await waitForFocusOn(page, 'title');

    await page.keyboard.type('Typed, not clicked'); // "New todo" has focus on arrival
    await page.keyboard.press('Enter');
    const checkbox = page.getByRole('checkbox', { name: 'Typed, not clicked', exact: true });
    await checkbox.waitFor();
    await page.locator('main:not([aria-busy="true"])').waitFor();

    await tabTo(page, 'Typed, not clicked');
    await page.keyboard.press('Space');
    await page.locator('main:not([aria-busy="true"])').waitFor();
    await page.getByRole('checkbox', { name: 'Typed, not clicked', exact: true, checked: true }).waitFor();
    assert.equal((await focused(page)).label, 'Typed, not clicked', 'focus stays on the toggled todo');

    await tabTo(page, 'Delete Typed, not clicked');
    await page.keyboard.press('Enter');
    await page.locator('main:not([aria-busy="true"])').waitFor();
    await page.getByText('Nothing to do yet').waitFor();
    const after = await focused(page);
    assert.notEqual(after.tag, 'body', 'focus is not lost after deleting');
    assert.ok(after.outlined, 'and it is visible');
    assert.deepEqual(await (await t.request('/api/todos')).json(), []);
    await page.close();
  });
});
