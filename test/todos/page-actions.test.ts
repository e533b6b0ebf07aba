// Every list action as a plain form post (no JavaScript), on both engines:
// toggle, toggle all, edit, delete, delete selected, clear completed,
// filters, counter, search, sort and manual order.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ENGINES, startTestApp, type TestApp, type TodoJson } from '../support/app.ts';
import type { BrowserSession } from '../support/browser.ts';

for (const engine of ENGINES) {
  describe(`list actions without JavaScript on ${engine}`, () => {
    let t: TestApp;
    let browser: BrowserSession;
    before(async () => {
      t = await startTestApp(engine);
      browser = await t.browserFor(t.alice);
    });
    after(() => t.close());
    beforeEach(async () => {
      await t.request('/api/todos', { method: 'DELETE' });
    });

    const create = async (body: Record<string, unknown>) =>
      (await (await t.request('/api/todos', { method: 'POST', json: body })).json()) as TodoJson;
    const todos = async (query = '') => (await (await t.request(`/api/todos${query}`)).json()) as TodoJson[];
    const post = async (path: string, fields: Record<string, string> = {}) => {
      await browser.page('/'); // a fresh CSRF token, as a person would have
      return browser.postForm(path, fields);
    };
    const titlesOn = (page: string) =>
      [...page.matchAll(/<span class="title">([^<]*)<\/span>/g)].map((match) => match[1]);

    it('shows the empty state, then the counter with the right plural', async () => {
      assert.match(await browser.page('/'), /Nothing to do yet/);
      await create({ title: 'one' });
      assert.match(await browser.page('/'), /1 item left/);
      await create({ title: 'two' });
      assert.match(await browser.page('/'), /2 items left/);
    });

    it('toggles one todo and back, returning to the page it came from', async () => {
      const todo = await create({ title: 'toggle me' });
      const done = await post(`/todos/${todo.id}/toggle`, { completed: 'true', returnTo: '/active' });
      assert.equal(done.status, 303);
      assert.equal(done.headers.get('location'), '/active');
      assert.equal((await todos())[0]?.completed, true);
      const page = await browser.page('/');
      assert.match(page, /role="checkbox" aria-checked="true" aria-label="toggle me"/);
      await post(`/todos/${todo.id}/toggle`, { completed: 'false' });
      assert.equal((await todos())[0]?.completed, false);
    });

    it('toggles all; the toggle-all control is checked when all are done', async () => {
      await create({ title: 'a' });
      await create({ title: 'b', completed: true });
      assert.match(await browser.page('/'), /aria-checked="false" class="check">Toggle all/);
      await post('/todos/toggle-all', { completed: 'true' });
      assert.deepEqual(
        (await todos()).map((todo) => todo.completed),
        [true, true],
      );
      assert.match(await browser.page('/'), /aria-checked="true" class="check">Toggle all/);
      assert.match(await browser.page('/'), /0 items left/);
      await post('/todos/toggle-all', { completed: 'false' });
      assert.deepEqual(
        (await todos()).map((todo) => todo.completed),
        [false, false],
      );
    });

    it('filters by URL, marking the current filter', async () => {
      await create({ title: 'open task' });
      await create({ title: 'finished task', completed: true });
      const active = await browser.page('/active');
      assert.deepEqual(titlesOn(active), ['open task']);
      assert.match(active, /<a href="\/active" aria-current="page">Active<\/a>/);
      assert.deepEqual(titlesOn(await browser.page('/completed')), ['finished task']);
      assert.deepEqual(titlesOn(await browser.page('/')), ['finished task', 'open task']);
    });

    it('edits title, due date and notes on the edit page; an empty title deletes', async () => {
      const todo = await create({ title: 'draft' });
      const edit = await browser.page(`/todos/${todo.id}/edit?returnTo=/active`);
      assert.match(edit, /<label>Title <input name="title"[^>]*value="draft"/);
      const saved = await browser.postForm(`/todos/${todo.id}`, {
        title: '  final  ',
        dueDate: '2030-01-02',
        notes: 'with notes',
        returnTo: '/active',
      });
      assert.equal(saved.status, 303);
      assert.equal(saved.headers.get('location'), '/active');
      const [after] = await todos();
      assert.deepEqual([after?.title, after?.dueDate, after?.notes], ['final', '2030-01-02', 'with notes']);

      await browser.page(`/todos/${todo.id}/edit`);
      const bad = await browser.postForm(`/todos/${todo.id}`, { title: 'final', dueDate: '2030-02-30', notes: '' });
      assert.equal(bad.status, 400);
      assert.match(await bad.text(), /dueDate: must be a real calendar date/);
      assert.equal((await todos())[0]?.dueDate, '2030-01-02', 'nothing changed');

      await browser.page(`/todos/${todo.id}/edit`);
      assert.equal((await browser.postForm(`/todos/${todo.id}`, { title: '   ', dueDate: '', notes: '' })).status, 303);
      assert.deepEqual(await todos(), []);
    });

    it('deletes one, several selected, and the completed ones', async () => {
      const [a, b, c, d] = [
        await create({ title: 'a' }),
        await create({ title: 'b' }),
        await create({ title: 'c', completed: true }),
        await create({ title: 'd' }),
      ];
      assert.equal((await post(`/todos/${a.id}/delete`)).status, 303);
      await browser.page('/');
      assert.equal(
        (
          await browser.fetch('/todos/delete-selected', {
            method: 'POST',
            body: new URLSearchParams([
              ['_csrf', browser.csrfToken ?? ''],
              ['ids', String(b.id)],
              ['ids', String(d.id)],
            ]),
          })
        ).status,
        303,
      );
      assert.deepEqual(
        (await todos()).map((todo) => todo.id),
        [c.id],
      );
      assert.match(await browser.page('/'), /Clear completed/);
      await post('/todos/clear-completed');
      assert.deepEqual(await todos(), []);
      assert.doesNotMatch(await browser.page('/'), /Clear completed/, 'shown only when some are completed');
    });

    it('searches, sorts by due date, and moves todos in manual order', async () => {
      const first = await create({ title: 'pay rent', dueDate: '2030-05-01' });
      const second = await create({ title: 'call plumber', notes: 'about the rent increase' });
      const third = await create({ title: 'buy milk', dueDate: '2030-01-01' });
      assert.deepEqual(titlesOn(await browser.page('/?q=RENT')), ['call plumber', 'pay rent']);
      assert.match(await browser.page('/?q=zzz'), /No todo matches your search/);
      assert.deepEqual(titlesOn(await browser.page('/?sort=due')), ['buy milk', 'pay rent', 'call plumber']);
      assert.deepEqual(titlesOn(await browser.page('/?sort=order')), ['pay rent', 'call plumber', 'buy milk']);
      const page = await browser.page('/?sort=order');
      assert.match(page, /aria-label="Move buy milk up"/);
      await browser.postForm(`/todos/${third.id}/move`, { direction: 'up', returnTo: '/?sort=order' });
      assert.deepEqual(titlesOn(await browser.page('/?sort=order')), ['pay rent', 'buy milk', 'call plumber']);
      await browser.postForm(`/todos/${first.id}/move`, { direction: 'down' });
      assert.deepEqual(titlesOn(await browser.page('/?sort=order')), ['buy milk', 'pay rent', 'call plumber']);
      assert.ok(second);
    });

    it('marks overdue todos with text, not colour alone', async () => {
      await create({ title: 'late', dueDate: '2000-01-01' });
      await create({ title: 'late but done', dueDate: '2000-01-01', completed: true });
      await create({ title: 'future', dueDate: '2999-01-01' });
      const page = await browser.page('/');
      assert.match(
        page,
        /late<\/span>\s*<span class="due">Due <time datetime="2000-01-01">Sat, Jan 1, 2000<\/time> <strong class="overdue-flag">Overdue<\/strong>/,
      );
      assert.equal([...page.matchAll(/Overdue<\/strong>/g)].length, 1);
    });

    it('never redirects to another site', async () => {
      const todo = await create({ title: 'x' });
      for (const returnTo of ['https://evil.example/', '//evil.example/', '/\\evil.example', '/admin']) {
        const response = await post(`/todos/${todo.id}/toggle`, { completed: 'true', returnTo });
        assert.equal(response.headers.get('location'), '/', returnTo);
      }
    });

    it('answers 404 for another person’s todo on every form, changing nothing', async () => {
      const todo = await create({ title: 'alice only' });
      const bob = await t.createUser(`bob${engine}`);
      const bobs = await t.browserFor(bob);
      await bobs.page('/');
      for (const [path, fields] of [
        [`/todos/${todo.id}/toggle`, { completed: 'true' }],
        [`/todos/${todo.id}/move`, { direction: 'up' }],
        [`/todos/${todo.id}/delete`, {}],
        [`/todos/${todo.id}`, { title: 'stolen', dueDate: '', notes: '' }],
      ] as const) {
        assert.equal((await bobs.postForm(path, fields)).status, 404, path);
      }
      assert.equal((await bobs.fetch(`/todos/${todo.id}/edit`)).status, 404);
      await bobs.postForm('/todos/delete-selected', { ids: String(todo.id) });
      await bobs.postForm('/todos/toggle-all', { completed: 'true' });
      await bobs.postForm('/todos/clear-completed', {});
      const [after] = await todos();
      assert.deepEqual([after?.title, after?.completed], ['alice only', false]);
    });
  });
}
