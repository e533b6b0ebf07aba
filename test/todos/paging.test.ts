// The list page in pages: a person with 10,000 todos gets a first page of
// PAGE_SIZE with a plain link to the next (no JavaScript needed), the links
// reach every todo exactly once in every view, the counts stay the totals,
// forms return to the page they came from, and a bad page number is a 400.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PAGE_SIZE } from '../../src/features/todos/page-routes.ts';
import { ENGINES, startTestApp, type TestApp } from '../support/app.ts';
import type { BrowserSession } from '../support/browser.ts';

const TODOS = 10_000;

const idsOn = (page: string) =>
  [...page.matchAll(/<li class="todo[^"]*" data-id="(\d+)"/g)].map((match) => Number(match[1]));
/** The href of the page's rel="next" link, unescaped as a browser would. */
const nextOn = (page: string) => /<a href="([^"]+)" rel="next">/.exec(page)?.[1]?.replaceAll('&amp;', '&');

for (const engine of ENGINES) {
  describe(`the list page's pages on ${engine}`, () => {
    let t: TestApp;
    let browser: BrowserSession;
    before(async () => {
      t = await startTestApp(engine);
      // 10,000 todos in one statement (every third one done), as SQL behind the app would: not 10,000 requests.
      await t.db.query(
        `INSERT INTO todos (owner_id, title, notes, completed, "order", due_date)
         SELECT $1, 'todo ' || n, 'notes of ' || n, n % 3 = 0, n, CASE WHEN n % 5 = 0 THEN DATE '2030-01-01' + (n % 400) END
         FROM generate_series(1, ${TODOS}) n`,
        [t.alice.id],
      );
      browser = await t.browserFor(t.alice);
    });
    after(() => t.close());

    /** Follows the next links from `path`; every page's ids, in order. */
    async function walk(path: string): Promise<{ pages: number[][]; paths: string[] }> {
      const pages: number[][] = [];
      const paths: string[] = [];
      for (let next: string | undefined = path; next !== undefined;) {
        paths.push(next);
        const page = await browser.page(next);
        pages.push(idsOn(page));
        next = nextOn(page);
        assert.ok(paths.length <= TODOS / PAGE_SIZE + 1, 'the links end');
      }
      return { pages, paths };
    }

    it('shows a first page of PAGE_SIZE todos, the totals, and a plain link to the next page', async () => {
      const response = await browser.fetch('/');
      assert.equal(response.status, 200);
      const page = await response.text();
      assert.equal(idsOn(page).length, PAGE_SIZE);
      assert.ok(page.length < 200_000, `${page.length} characters: one page, not 10,000 todos`);
      assert.equal(nextOn(page), '/?page=2');
      assert.ok(!page.includes('rel="prev"'), 'no page before the first');
      assert.match(page, new RegExp(`Todos 1–${PAGE_SIZE} of ${TODOS}`));
      assert.match(page, /6667 items left/, 'the count of the whole list, not of the page');
      assert.match(page, /Clear completed/);
    });

    it('reaches every todo exactly once by following the links, in every view', async () => {
      const everyId = (
        await t.db.query<{ id: number }>('SELECT id FROM todos WHERE owner_id = $1 ORDER BY created_at DESC, id DESC', [
          t.alice.id,
        ])
      ).map((row) => row.id);
      const all = await walk('/');
      assert.equal(all.pages.length, TODOS / PAGE_SIZE);
      assert.deepEqual(all.pages.flat(), everyId, 'every todo once, in the list order');
      assert.equal(all.paths.at(-1), `/?page=${TODOS / PAGE_SIZE}`);

      // Filtered, searched and sorted views keep their query from page to page.
      const activeIds = (
        await t.db.query<{ id: number }>(
          'SELECT id FROM todos WHERE owner_id = $1 AND NOT completed ORDER BY due_date ASC NULLS LAST, created_at DESC, id DESC',
          [t.alice.id],
        )
      ).map((row) => row.id);
      const active = await walk('/active?sort=due');
      assert.equal(active.paths[1], '/active?sort=due&page=2');
      assert.deepEqual(active.pages.flat(), activeIds);
      const completed = await walk('/completed?q=todo+1&sort=order');
      const completedIds = (
        await t.db.query<{ id: number }>(
          `SELECT id FROM todos WHERE owner_id = $1 AND completed AND title ILIKE '%todo 1%' ORDER BY "order", id`,
          [t.alice.id],
        )
      ).map((row) => row.id);
      assert.ok(completedIds.length > PAGE_SIZE, 'more than one page');
      assert.equal(completed.paths[1], '/completed?q=todo+1&sort=order&page=2');
      assert.deepEqual(completed.pages.flat(), completedIds);
      assert.equal(new Set(completed.pages.flat()).size, completedIds.length);
    });

    it('keeps the forms of a page returning to that page, and links back to the one before', async () => {
      const page = await browser.page('/active?page=3');
      assert.match(page, /name="returnTo" value="\/active\?page=3"/);
      assert.match(page, /<a href="\/active\?page=2" rel="prev">/);
      const [id] = idsOn(page);
      const toggled = await browser.postForm(`/todos/${id}/toggle`, { completed: 'true', returnTo: '/active?page=3' });
      assert.equal(toggled.status, 303);
      assert.equal(toggled.headers.get('location'), '/active?page=3');
      assert.ok(!idsOn(await browser.page('/active?page=3')).includes(id ?? 0), 'done: off the active pages');
      await browser.postForm(`/todos/${id}/toggle`, { completed: 'false', returnTo: '/active?page=3' });
      // Beyond the last page: no todos, the way back, no way on.
      const beyond = await browser.page('/?page=500');
      assert.deepEqual(idsOn(beyond), []);
      assert.match(beyond, /No todos on this page/);
      assert.match(beyond, /<a href="\/\?page=100" rel="prev">/);
      assert.equal(nextOn(beyond), undefined);
    });

    it('answers 400 naming the page for a page number that is not one, changing nothing', async () => {
      for (const bad of ['0', '-1', 'abc', '1.5', '2x', '100001', '']) {
        const response = await browser.fetch(`/?page=${encodeURIComponent(bad)}`);
        assert.equal(response.status, 400, `page=${bad}`);
        const body = await response.text();
        assert.match(body, /page/, `page=${bad}: the field is named`);
        assert.ok(!/at \w+ \(|node_modules/.test(body), 'no stack trace');
      }
    });
  });
}
