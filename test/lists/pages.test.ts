// The pages of lists, without JavaScript, on both engines: the lists column
// with counts, a list's own pages, its settings (rename, share, archive,
// delete after confirming, leave), and what an owner, an editor, a viewer
// and a stranger may each do through the forms.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ListJson } from '../../src/features/lists/schemas.ts';
import type { BrowserSession } from '../support/browser.ts';
import { ENGINES, startTestApp, type TestApp, type TestUser, type TodoJson } from '../support/app.ts';

for (const engine of ENGINES) {
  describe(`list pages on ${engine}`, () => {
    let t: TestApp;
    let bob: TestUser;
    let carol: TestUser;
    let alice: BrowserSession;
    let bobs: BrowserSession;
    let carols: BrowserSession;
    before(async () => {
      t = await startTestApp(engine);
      bob = await t.createUser('bob');
      carol = await t.createUser('carol');
      [alice, bobs, carols] = await Promise.all([t.browserFor(t.alice), t.browserFor(bob), t.browserFor(carol)]);
    });
    after(() => t.close());

    const listsOf = async (user: TestUser) =>
      (await t.request('/api/lists', { headers: { authorization: `Bearer ${user.token}` } })).json() as Promise<
        ListJson[]
      >;
    const titlesIn = async (user: TestUser, listId: number) =>
      (
        (await (
          await t.request(`/api/lists/${listId}/todos`, { headers: { authorization: `Bearer ${user.token}` } })
        ).json()) as TodoJson[]
      ).map((todo) => todo.title);
    const posted = async (response: Promise<Response>, status: number, location?: string) => {
      const answer = await response;
      assert.equal(answer.status, status, await answer.clone().text());
      if (location !== undefined) assert.equal(answer.headers.get('location'), location);
      return answer;
    };

    it('creates a list from the column, adds to it on its own page, and counts active todos in the column', async () => {
      await alice.page('/');
      const created = await posted(alice.postForm('/lists', { name: '  Groceries ' }), 303);
      const path = created.headers.get('location') ?? '';
      assert.match(path, /^\/lists\/\d+$/);
      const listId = Number(path.split('/')[2]);
      await alice.page(path);
      await posted(alice.postForm(`${path}/todos`, { title: 'Apples', returnTo: path }), 303, path);
      await posted(
        alice.postForm(`${path}/todos`, { title: 'Pears', returnTo: `${path}/active` }),
        303,
        `${path}/active`,
      );
      assert.deepEqual((await titlesIn(t.alice, listId)).sort(), ['Apples', 'Pears']);
      assert.ok(!(await titlesIn(t.alice, t.alice.inboxId)).includes('Apples'), 'not in the Inbox');
      const page = await alice.page(path);
      assert.match(page, /<h1>Groceries<\/h1>/);
      assert.match(
        page,
        new RegExp(`<a href="${path}" aria-current="page">Groceries</a> <span class="count"[^>]*>2</span>`),
      );
      assert.match(page, /<a href="\/">Inbox<\/a>/);
      assert.match(page, new RegExp(`<form class="add" method="post" action="${path}/todos" data-action="add">`));
      assert.match(await alice.page(`${path}/completed`), /No completed todos\./);
      assert.match(await alice.page(`${path}/active`), /Apples/);
      // A bad title: the list's own page again, 400, with what was typed.
      const refused = await posted(alice.postForm(`${path}/todos`, { title: ' ', returnTo: path }), 400);
      assert.match(await refused.text(), /<h1>Groceries<\/h1>/);
      await posted(alice.postForm('/lists', { name: '   ' }), 400);
    });

    it('shares from the settings page; a viewer sees the list read-only and is refused every change (403)', async () => {
      const list = (await listsOf(t.alice)).find((each) => each.name === 'Groceries');
      assert.ok(list);
      const base = `/lists/${list.id}`;
      await alice.page(`${base}/settings`);
      await posted(alice.postForm(`${base}/members`, { username: 'bob', role: 'viewer' }), 303, `${base}/settings`);
      const noSuch = await posted(alice.postForm(`${base}/members`, { username: 'nobody', role: 'viewer' }), 400);
      assert.match(await noSuch.text(), /There is no account named/);
      assert.match(await alice.page(`${base}/settings`), /<th scope="row">bob<\/th>/);

      const page = await bobs.page(base);
      assert.match(page, /Shared by alice; you can view it\./);
      assert.match(page, /<span class="owner">\(alice\)<\/span>/);
      assert.doesNotMatch(page, /<form class="add"/);
      assert.doesNotMatch(page, /formaction=/, 'no buttons that change a todo');
      assert.match(page, /role="checkbox" aria-checked="false" aria-readonly="true" aria-label="Apples"/);
      const [apples] = (await (await t.request(`/api/lists/${list.id}/todos?q=Apples`)).json()) as TodoJson[];
      assert.ok(apples);
      const refused: [string, Record<string, string>][] = [
        [`${base}/todos`, { title: 'sneaky' }],
        [`${base}/todos/toggle-all`, { completed: 'true' }],
        [`${base}/todos/clear-completed`, {}],
        [`${base}/todos/delete-selected`, { ids: String(apples.id) }],
        [`/todos/${apples.id}/toggle`, { completed: 'true' }],
        [`/todos/${apples.id}/delete`, {}],
        [`/todos/${apples.id}`, { title: 'Renamed' }],
        [`${base}/settings`, { name: 'Mine' }],
        [`${base}/move`, { direction: 'up' }],
        [`${base}/delete`, { confirm: 'yes' }],
        [`${base}/members`, { username: 'carol', role: 'editor' }],
      ];
      for (const [path, fields] of refused) await posted(bobs.postForm(path, { ...fields, returnTo: base }), 403);
      assert.equal((await bobs.fetch(`/todos/${apples.id}/edit`)).status, 403);
      assert.deepEqual((await titlesIn(t.alice, list.id)).sort(), ['Apples', 'Pears'], 'nothing changed');

      // An editor changes todos, not the list.
      await posted(alice.postForm(`${base}/members`, { username: 'bob', role: 'editor' }), 303);
      await bobs.page(base);
      await posted(bobs.postForm(`${base}/todos`, { title: 'Bread', returnTo: base }), 303, base);
      await posted(bobs.postForm(`/todos/${apples.id}/toggle`, { completed: 'true', returnTo: base }), 303, base);
      await posted(bobs.postForm(`${base}/settings`, { name: 'Mine' }), 403);
      assert.deepEqual((await titlesIn(t.alice, list.id)).sort(), ['Apples', 'Bread', 'Pears']);
    });

    it('answers a stranger 404 for the list’s pages and forms, and its todos’', async () => {
      const list = (await listsOf(t.alice)).find((each) => each.name === 'Groceries');
      assert.ok(list);
      const base = `/lists/${list.id}`;
      const [todo] = (await (await t.request(`/api/lists/${list.id}/todos`)).json()) as TodoJson[];
      assert.ok(todo);
      await carols.page('/');
      for (const path of [base, `${base}/active`, `${base}/completed`, `${base}/settings`, `/todos/${todo.id}/edit`])
        assert.equal((await carols.fetch(path)).status, 404, path);
      const forms: [string, Record<string, string>][] = [
        [`${base}/todos`, { title: 'x' }],
        [`${base}/todos/toggle-all`, { completed: 'true' }],
        [`${base}/todos/clear-completed`, {}],
        [`${base}/todos/delete-selected`, { ids: String(todo.id) }],
        [`/todos/${todo.id}/toggle`, { completed: 'true' }],
        [`/todos/${todo.id}/move`, { direction: 'up' }],
        [`/todos/${todo.id}/delete`, {}],
        [`/todos/${todo.id}`, { title: 'x' }],
        [`${base}/settings`, { name: 'x' }],
        [`${base}/archive`, { archived: 'true' }],
        [`${base}/move`, { direction: 'down' }],
        [`${base}/delete`, { confirm: 'yes' }],
        [`${base}/members`, { username: 'carol', role: 'editor' }],
        [`${base}/members/bob/remove`, {}],
      ];
      for (const [path, fields] of forms) await posted(carols.postForm(path, { ...fields, returnTo: '/' }), 404);
      assert.doesNotMatch(await carols.page('/'), /Groceries/);
    });

    it('renames, archives (hidden from the column, kept), and deletes a list only once confirmed', async () => {
      const created = await posted(alice.postForm('/lists', { name: 'Old name' }), 303);
      const base = created.headers.get('location') ?? '';
      await posted(alice.postForm(`${base}/settings`, { name: 'New name', position: '7' }), 303);
      await posted(alice.postForm(`${base}/settings`, { name: '', position: '7' }), 400);
      await posted(alice.postForm(`${base}/settings`, { name: 'x', position: 'seven' }), 400);
      const renamed = (await listsOf(t.alice)).find((each) => each.name === 'New name');
      assert.equal(renamed?.position, 7);
      await posted(alice.postForm(`${base}/archive`, { archived: 'true' }), 303);
      const page = await alice.page('/');
      assert.match(page, /<summary>Archived \(1\)<\/summary><ul><li><a href="[^"]+">New name<\/a>/);
      await posted(alice.postForm(`${base}/todos`, { title: 'goes too', returnTo: base }), 303);
      const unconfirmed = await posted(alice.postForm(`${base}/delete`, {}), 400);
      assert.match(await unconfirmed.text(), /tick the box to confirm/);
      assert.match(await alice.page(`${base}/settings`), /Yes, delete “New name” and its 1 todo</);
      await posted(alice.postForm(`${base}/delete`, { confirm: 'yes' }), 303, '/');
      assert.equal((await alice.fetch(base)).status, 404);
      assert.equal((await alice.postForm(`/lists/${t.alice.inboxId}/delete`, { confirm: 'yes' })).status, 400);
    });

    it('moves a list up and down the column with buttons, the Inbox first and archived lists apart', async () => {
      const names = ['Move A', 'Move B', 'Move C'];
      const bases: string[] = [];
      for (const name of names)
        bases.push((await posted(alice.postForm('/lists', { name }), 303)).headers.get('location') ?? '');
      const [a, , c] = bases as [string, string, string];
      // The column's lists before the archived ones ("Groceries", from the tests above, is alice's too).
      const column = async () =>
        [
          ...((await alice.page('/')).split('<nav aria-label="Lists"><ul>')[1] ?? '')
            .split('</ul>')[0]!
            .matchAll(/<li><a href="[^"]+"[^>]*>([^<]+)<\/a>/g),
        ].map((match) => match[1]);
      assert.deepEqual(await column(), ['Inbox', 'Groceries', 'Move A', 'Move B', 'Move C']);
      const settings = await alice.page(`${c}/settings`);
      assert.match(settings, /aria-label="Move Move C up in the lists">Move up<\/button>/);
      await posted(alice.postForm(`${c}/move`, { direction: 'up' }), 303, `${c}/settings`);
      assert.deepEqual(await column(), ['Inbox', 'Groceries', 'Move A', 'Move C', 'Move B']);
      for (let step = 0; step < 3; step++) await posted(alice.postForm(`${c}/move`, { direction: 'up' }), 303);
      assert.deepEqual(await column(), ['Inbox', 'Move C', 'Groceries', 'Move A', 'Move B'], 'at the top it stays');
      await posted(alice.postForm(`${a}/move`, { direction: 'down' }), 303);
      assert.deepEqual(await column(), ['Inbox', 'Move C', 'Groceries', 'Move B', 'Move A']);
      await posted(alice.postForm(`${a}/move`, { direction: 'down' }), 303);
      assert.deepEqual(await column(), ['Inbox', 'Move C', 'Groceries', 'Move B', 'Move A'], 'at the bottom too');
      await posted(alice.postForm(`${a}/move`, { direction: 'sideways' }), 400);
      assert.doesNotMatch(await alice.page(`/lists/${t.alice.inboxId}/settings`), /Move up/, 'the Inbox stays first');
      assert.match(
        await (await posted(alice.postForm(`/lists/${t.alice.inboxId}/move`, { direction: 'down' }), 400)).text(),
        /The Inbox is always first/,
      );
      const b = bases[1] ?? '';
      await posted(alice.postForm(`${b}/archive`, { archived: 'true' }), 303);
      assert.deepEqual(await column(), ['Inbox', 'Move C', 'Groceries', 'Move A']);
      await posted(alice.postForm(`${a}/move`, { direction: 'up' }), 303);
      assert.deepEqual(await column(), ['Inbox', 'Move C', 'Move A', 'Groceries'], 'past no archived list');
      await posted(alice.postForm(`${b}/move`, { direction: 'up' }), 400);
      for (const base of bases) await posted(alice.postForm(`${base}/delete`, { confirm: 'yes' }), 303, '/');
    });

    it('lets a member leave from the settings page', async () => {
      const list = (await listsOf(bob)).find((each) => each.name === 'Groceries');
      assert.ok(list);
      const settings = await bobs.page(`/lists/${list.id}/settings`);
      assert.match(settings, /Leave this list/);
      await posted(bobs.postForm(`/lists/${list.id}/members/bob/remove`, {}), 303, '/');
      assert.equal((await bobs.fetch(`/lists/${list.id}`)).status, 404);
    });

    it('keeps the column true: this app’s writes show at once, a write it did not make within a second', async () => {
      const countOf = (page: string, name: string) =>
        Number(new RegExp(`>${name}</a> <span class="count"[^>]*>(\\d+)</span>`).exec(page)?.[1]);
      const created = await posted(alice.postForm('/lists', { name: 'Column' }), 303);
      const path = created.headers.get('location') ?? '';
      const listId = Number(path.split('/')[2]);
      assert.equal(countOf(await alice.page('/'), 'Column'), 0);
      // Through the API of this app: the Inbox page, rendered again at once, counts it.
      const auth = { authorization: `Bearer ${t.alice.token}` };
      assert.equal(
        (await t.request(`/api/lists/${listId}/todos`, { method: 'POST', json: { title: 'one' }, headers: auth }))
          .status,
        201,
      );
      assert.equal(countOf(await alice.page('/'), 'Column'), 1);
      await posted(alice.postForm(`${path}/settings`, { name: 'Renamed column', position: '7' }), 303);
      assert.equal(countOf(await alice.page('/'), 'Renamed column'), 1);
      // Behind the app's back (another replica's writer would also NOTIFY): seen within the second the column is kept.
      await t.db.query(`INSERT INTO todos (title, list_id, owner_id) VALUES ('two', $1, $2)`, [listId, t.alice.id]);
      const deadline = Date.now() + 1500;
      let count = countOf(await alice.page('/'), 'Renamed column');
      while (count !== 2 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        count = countOf(await alice.page('/'), 'Renamed column');
      }
      assert.equal(count, 2);
    });
  });
}
