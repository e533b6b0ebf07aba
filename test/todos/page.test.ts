// The server-rendered page and its plain form post, on both engines.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ENGINES, startTestApp, type TestApp } from '../support/app.ts';
import type { BrowserSession } from '../support/browser.ts';

for (const engine of ENGINES) {
  describe(`the list page on ${engine}`, () => {
    let t: TestApp;
    let browser: BrowserSession;
    before(async () => {
      t = await startTestApp(engine);
      browser = await t.browserFor(t.alice);
    });
    after(() => t.close());

    const postForm = (fields: Record<string, string>) => browser.postForm('/todos', fields);

    async function titles(): Promise<string[]> {
      const todos = (await (await t.request('/api/todos')).json()) as { title: string }[];
      return todos.map((todo) => todo.title);
    }

    it('shows an empty list with the add form', async () => {
      const response = await browser.fetch('/');
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /text\/html/);
      const page = await response.text();
      assert.match(page, /<form[^>]+method="post"[^>]+action="\/todos"/);
      assert.match(page, /Nothing to do yet/);
    });

    it('adds a todo with a form post, then redirects to the list', async () => {
      const response = await postForm({ title: '  Water the plants ', dueDate: '2026-07-01' });
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), '/');
      const page = await browser.page('/');
      assert.match(
        page,
        /<span class="title">Water the plants<\/span>\s*<span class="due">Due <time datetime="2026-07-01">Wed, Jul 1, 2026<\/time>/,
      );
    });

    it('shows markup in titles as text', async () => {
      for (const title of ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>']) {
        assert.equal((await postForm({ title })).status, 303);
      }
      const page = await browser.page('/');
      assert.ok(!page.includes('<script>alert(1)</script>'));
      assert.ok(!page.includes('<img src=x'));
      assert.ok(page.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
      assert.ok(page.includes('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'));
    });

    it('renders the todos the same on every page: the per-render fields are in shared forms outside the list', async () => {
      await postForm({ title: 'Same every time', dueDate: '2000-01-01', notes: 'notes & more' });
      const itemsOf = (page: string) => /<ul class="todos" aria-label="Todos">([\s\S]*?)<\/ul>/.exec(page)?.[1] ?? '';
      const first = await browser.page('/');
      const items = itemsOf(first);
      assert.match(items, /Same every time/);
      assert.doesNotMatch(items, /_csrf|_idempotency|returnTo|<form/, 'no token, nonce, returnTo or form in the list');
      assert.equal(itemsOf(await browser.page('/')), items, 'byte-identical on the next render');
      assert.equal(itemsOf(await browser.page('/?sort=newest')), items, 'and from another URL of the same view');
      assert.match(
        first,
        /<form id="todo-actions" method="post" hidden><input type="hidden" name="_csrf" value="[^"]+"><input type="hidden" name="returnTo" value="\/"><input type="hidden" name="_idempotency" value="[^"]+"><\/form>/,
      );
      assert.match(
        first,
        /<form id="todo-edit" method="get" hidden><input type="hidden" name="returnTo" value="\/"><\/form>/,
      );
      assert.match(
        items,
        /<button form="todo-actions" formaction="\/todos\/\d+\/toggle" data-action="toggle" name="completed" value="true" role="checkbox" aria-checked="false" aria-label="Same every time" class="check"><\/button>/,
      );
      assert.match(
        items,
        /<button form="todo-edit" formaction="\/todos\/\d+\/edit" data-action="edit" aria-label="Edit Same every time">Edit<\/button>/,
      );
      assert.match(
        items,
        /<button form="todo-actions" formaction="\/todos\/\d+\/delete" data-action="delete" class="danger" aria-label="Delete Same every time">Delete<\/button>/,
      );
    });

    it('rejects an empty title or an impossible date with a message, adding nothing', async () => {
      const before = await titles();
      for (const [fields, pattern] of [
        [{ title: '   ' }, /title: must not be empty/],
        [{ title: 'x'.repeat(251) }, /title: must be at most 250 characters/],
        [{ title: 'ok', dueDate: '2026-02-30' }, /dueDate: must be a real calendar date/],
      ] as const) {
        const response = await postForm(fields);
        assert.equal(response.status, 400);
        const page = await response.text();
        assert.match(page, /role="alert"/);
        assert.match(page, pattern);
      }
      assert.deepEqual(await titles(), before);
    });
  });
}

describe('static assets', () => {
  it('are linked under fingerprinted names, cached immutable; HTML is not cached', async () => {
    const t = await startTestApp('pglite');
    try {
      const browser = await t.browserFor(t.alice);
      const response = await browser.fetch('/');
      assert.equal(response.headers.get('cache-control'), 'private, no-store');
      const href = /<link rel="stylesheet" href="(\/static\/app\.[0-9a-f]{10}\.css)">/.exec(await response.text())?.[1];
      assert.ok(href, 'the stylesheet has a fingerprinted name');
      const css = await browser.fetch(href);
      assert.equal(css.status, 200);
      assert.match(css.headers.get('content-type') ?? '', /text\/css/);
      assert.equal(css.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      assert.equal((await browser.fetch('/static/app.0000000000.css')).status, 404);
      assert.equal((await browser.fetch('/static/app.css')).status, 404);
    } finally {
      await t.close();
    }
  });
});
