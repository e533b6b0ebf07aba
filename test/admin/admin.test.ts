// The admin area over real HTTP on both engines: every user's todos (search,
// filters, edit, delete), the users page (disable/enable, admin rights), and
// that to anyone but an admin's browser every /admin URL is an ordinary 404.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { usersRepository } from '../../src/features/accounts/repository.ts';
import { ENGINES, startTestApp, type TestApp, type TestUser, type TodoJson } from '../support/app.ts';
import { BrowserSession } from '../support/browser.ts';

/** The titles linked from the admin todo table, in page order (as escaped HTML). */
function listedTitles(page: string): string[] {
  return [...page.matchAll(/<a href="\/admin\/todos\/\d+">([^<]*)<\/a>/g)].map((match) => match[1] ?? '');
}

/** The table row (`<tr>…</tr>` contents) containing this text. */
function rowOf(page: string, text: string): string {
  const row = page
    .split('<tr>')
    .find((candidate) => candidate.includes(text))
    ?.split('</tr>')[0];
  assert.ok(row, `a row containing ${text}`);
  return row;
}

for (const engine of ENGINES) {
  describe(`the admin area on ${engine}`, () => {
    let t: TestApp;
    let bob: TestUser;
    let admin: BrowserSession;
    const seeded: Record<'milk' | 'bike' | 'trip' | 'sale', TodoJson> = {} as never;
    let alicesTodo: TodoJson;

    const api = async (user: TestUser, path: string, init: RequestInit & { json?: unknown } = {}) =>
      t.request(path, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${user.token}` },
      });
    const createTodo = async (user: TestUser, json: Record<string, unknown>): Promise<TodoJson> => {
      const response = await api(user, '/api/todos', { method: 'POST', json });
      assert.equal(response.status, 201);
      return (await response.json()) as TodoJson;
    };
    const bobsView = async (id: number) => api(bob, `/api/todos/${id}`);
    const titlesFor = async (query: string) => listedTitles(await admin.page(`/admin${query}`));
    const userRow = async (username: string) => {
      const users = await usersRepository.listWithTodoCounts(t.db);
      const user = users.find((candidate) => candidate.username === username);
      assert.ok(user);
      return user;
    };

    before(async () => {
      t = await startTestApp(engine);
      bob = await t.createUser('bob');
      // Far past and far future dates keep "overdue" independent of the time zone.
      seeded.milk = await createTodo(t.alice, {
        title: 'Alice buys milk',
        notes: 'semi-skimmed',
        dueDate: '2000-01-01',
      });
      seeded.bike = await createTodo(bob, {
        title: 'Bob fixes the bike',
        notes: 'chain and 100% oil_can',
        dueDate: '2000-01-01',
        completed: true,
      });
      seeded.trip = await createTodo(bob, { title: 'Bob plans a trip', dueDate: '2999-12-31' });
      seeded.sale = await createTodo(bob, { title: 'Bob finds a 50% sale' });
      alicesTodo = seeded.milk;
      admin = await t.browserFor(t.alice);
    });
    after(() => t.close());

    it('lists every user’s todos, newest first, with their owners', async () => {
      const response = await admin.fetch('/admin');
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /text\/html/);
      assert.equal(response.headers.get('cache-control'), 'private, no-store');
      const page = await response.text();
      assert.deepEqual(listedTitles(page), [
        'Bob finds a 50% sale',
        'Bob plans a trip',
        'Bob fixes the bike',
        'Alice buys milk',
      ]);
      assert.match(rowOf(page, 'Alice buys milk'), /<td>alice<\/td>/);
      assert.match(rowOf(page, 'Bob plans a trip'), /<td>bob<\/td>/);
      assert.match(rowOf(page, 'Bob plans a trip'), /2999-12-31/);
      assert.match(rowOf(page, 'Alice buys milk'), /\(overdue\)/);
      assert.doesNotMatch(rowOf(page, 'Bob fixes the bike'), /\(overdue\)/, 'completed todos are never overdue');
      assert.match(page, /<th scope="col">Owner<\/th><th scope="col">List<\/th>/);
      assert.match(rowOf(page, 'Alice buys milk'), /<td>alice<\/td>\s*<td>Inbox<\/td>/);
      assert.match(page, /<th scope="row"><a href="\/admin\/todos\/\d+">Alice buys milk<\/a><\/th>/);
      // The header links to the area, for admins only.
      assert.match(page, /<a href="\/admin">Admin<\/a>/);
    });

    it('searches title and notes, with % and _ taken literally', async () => {
      assert.deepEqual(await titlesFor('?q=milk'), ['Alice buys milk']);
      assert.deepEqual(await titlesFor('?q=SEMI-skimmed'), ['Alice buys milk']);
      assert.deepEqual(await titlesFor('?q=%25'), ['Bob finds a 50% sale', 'Bob fixes the bike']);
      assert.deepEqual(await titlesFor('?q=_'), ['Bob fixes the bike']);
      assert.deepEqual(await titlesFor('?q=++milk++'), ['Alice buys milk'], 'surrounding spaces are ignored');
      assert.deepEqual(await titlesFor('?q=nothing+like+this'), []);
      const page = await admin.page('/admin?q=milk');
      assert.match(page, /name="q" maxlength="200" value="milk"/, 'the form keeps the search');
    });

    it('filters by owner, completed and overdue, alone and combined', async () => {
      assert.deepEqual(await titlesFor(`?owner=${bob.id}`), [
        'Bob finds a 50% sale',
        'Bob plans a trip',
        'Bob fixes the bike',
      ]);
      assert.deepEqual(await titlesFor(`?owner=${t.alice.id}`), ['Alice buys milk']);
      assert.deepEqual(await titlesFor('?completed=true'), ['Bob fixes the bike']);
      assert.deepEqual(await titlesFor('?completed=false'), [
        'Bob finds a 50% sale',
        'Bob plans a trip',
        'Alice buys milk',
      ]);
      assert.deepEqual(await titlesFor('?overdue=1'), ['Alice buys milk']);
      assert.deepEqual(await titlesFor(`?q=bob&owner=${bob.id}&completed=false`), [
        'Bob finds a 50% sale',
        'Bob plans a trip',
      ]);
      assert.deepEqual(await titlesFor(`?q=trip&owner=${bob.id}&completed=false`), ['Bob plans a trip']);
      assert.deepEqual(await titlesFor(`?owner=${bob.id}&overdue=1`), []);
      // What the form sends when a select is left at "any".
      assert.equal((await titlesFor('?q=&owner=&completed=')).length, 4);

      const page = await admin.page(`/admin?owner=${bob.id}&completed=false&overdue=1`);
      assert.match(page, new RegExp(`<option value="${bob.id}" selected>bob</option>`));
      assert.match(page, /<option value="false" selected>Not completed<\/option>/);
      assert.match(page, /name="overdue" value="1" checked/);
      // Every control sits inside its label.
      assert.match(page, /<label>Search title and notes <input type="search" name="q"/);
      assert.match(page, /<label>Owner <select name="owner">/);
      assert.match(page, /<label>Completed <select name="completed">/);
      assert.match(page, /<label><input type="checkbox" name="overdue" value="1" checked> Overdue only<\/label>/);
    });

    it('refuses a malformed filter with 400', async () => {
      for (const query of [
        '?owner=abc',
        '?owner=0',
        '?owner=99999999999',
        '?completed=maybe',
        '?overdue=yes',
        '?page=0',
        '?page=x',
        '?unknown=1',
      ]) {
        const response = await admin.fetch(`/admin${query}`);
        assert.equal(response.status, 400, query);
      }
    });

    it('pages through more than 200 todos', async () => {
      const carol = await t.createUser('carol');
      await t.db.query(
        `INSERT INTO todos (owner_id, title) SELECT $1, 'Carol item ' || g FROM generate_series(1, 205) AS g`,
        [carol.id],
      );
      const first = await admin.page(`/admin?owner=${carol.id}`);
      const firstTitles = listedTitles(first);
      assert.equal(firstTitles.length, 200);
      assert.equal(firstTitles[0], 'Carol item 205');
      assert.match(first, new RegExp(`<a href="/admin\\?owner=${carol.id}&amp;page=2" rel="next">Next page</a>`));
      assert.doesNotMatch(first, /rel="prev"/);
      const second = await admin.page(`/admin?owner=${carol.id}&page=2`);
      assert.deepEqual(listedTitles(second), [
        'Carol item 5',
        'Carol item 4',
        'Carol item 3',
        'Carol item 2',
        'Carol item 1',
      ]);
      assert.match(second, new RegExp(`<a href="/admin\\?owner=${carol.id}" rel="prev">Previous page</a>`));
      assert.doesNotMatch(second, /rel="next"/);
      assert.deepEqual(listedTitles(await admin.page(`/admin?owner=${carol.id}&page=3`)), []);
      await t.db.query('DELETE FROM users WHERE id = $1', [carol.id]);
    });

    it('edits another user’s todo through the form', async () => {
      const { id } = seeded.trip;
      const form = await admin.page(`/admin/todos/${id}`);
      assert.match(form, /Owner: bob, in the list “Inbox”\./);
      assert.match(form, /<input name="title" required maxlength="250" value="Bob plans a trip">/);
      assert.match(form, /<input name="dueDate" type="date" value="2999-12-31">/);
      assert.match(form, /aria-label="Delete todo Bob plans a trip"/);

      const response = await admin.postForm(`/admin/todos/${id}`, {
        title: '  Bob plans a long trip ',
        notes: 'by train\nand ferry',
        dueDate: '2030-05-06',
        completed: '1',
      });
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), `/admin/todos/${id}?notice=saved`);
      let todo = (await (await bobsView(id)).json()) as TodoJson;
      assert.equal(todo.title, 'Bob plans a long trip');
      assert.equal(todo.notes, 'by train\nand ferry');
      assert.equal(todo.dueDate, '2030-05-06');
      assert.equal(todo.completed, true);
      assert.match(
        await admin.page(`/admin/todos/${id}?notice=saved`),
        /role="status" class="notice">The todo was saved\./,
      );

      // An unticked checkbox and an empty date field: not completed, no due date.
      assert.equal(
        (await admin.postForm(`/admin/todos/${id}`, { title: 'Bob plans a trip', notes: '', dueDate: '' })).status,
        303,
      );
      todo = (await (await bobsView(id)).json()) as TodoJson;
      assert.deepEqual([todo.title, todo.notes, todo.dueDate, todo.completed], ['Bob plans a trip', '', null, false]);
      seeded.trip = todo;
    });

    it('refuses bad edits with 400 and a message, changing nothing', async () => {
      const { id } = seeded.trip;
      const before = await (await bobsView(id)).json();
      const valid = { title: 'changed', notes: 'changed', dueDate: '2030-01-01', completed: '1' };
      for (const [fields, pattern] of [
        [{ title: '   ' }, /title: must not be empty/],
        [{ title: 'x'.repeat(251) }, /title: must be at most 250 characters/],
        [{ dueDate: '2026-02-30' }, /dueDate: must be a real calendar date written YYYY-MM-DD/],
        [{ dueDate: '06/05/2030' }, /dueDate: must be a real calendar date written YYYY-MM-DD/],
      ] as const) {
        const response = await admin.postForm(`/admin/todos/${id}`, { ...valid, ...fields });
        assert.equal(response.status, 400);
        const page = await response.text();
        assert.match(page, /role="alert"/);
        assert.match(page, /The todo was not saved/);
        assert.match(page, pattern);
        assert.match(page, /<textarea name="notes" rows="6">changed<\/textarea>/, 'the form keeps what was sent');
      }
      // A post missing a field or carrying an unknown one is refused as a whole.
      assert.equal((await admin.postForm(`/admin/todos/${id}`, { title: 'changed', dueDate: '' })).status, 400);
      assert.equal((await admin.postForm(`/admin/todos/${id}`, { ...valid, owner_id: '1' })).status, 400);
      assert.deepEqual(await (await bobsView(id)).json(), before);
    });

    it('answers 404 for todos that do not exist or ids that are not ids', async () => {
      for (const id of ['abc', '0', '-1', '1.5', '99999999999', '2147483647']) {
        assert.equal((await admin.fetch(`/admin/todos/${id}`)).status, 404, `GET ${id}`);
        assert.equal(
          (await admin.postForm(`/admin/todos/${id}`, { title: 'x', notes: '', dueDate: '' })).status,
          404,
          `POST ${id}`,
        );
        assert.equal((await admin.postForm(`/admin/todos/${id}/delete`, {})).status, 404, `delete ${id}`);
      }
      for (const id of ['abc', '0', '99999999999', '2147483647']) {
        assert.equal((await admin.postForm(`/admin/users/${id}/disable`, {})).status, 404, `disable ${id}`);
      }
      // Unknown URLs and methods under /admin: 404 for the admin as well, even with a valid CSRF token.
      for (const path of [
        '/admin/',
        '/admin/no-such-page',
        '/admin/users/1',
        `/admin/users/${bob.id}/delete`,
        `/admin/todos/${seeded.trip.id}/delete`,
      ]) {
        assert.equal((await admin.fetch(path)).status, 404, `GET ${path}`);
      }
      for (const path of [
        '/admin',
        '/admin/',
        '/admin/no-such-page',
        '/admin/users',
        `/admin/users/${bob.id}/delete`,
      ]) {
        assert.equal((await admin.postForm(path, {})).status, 404, `POST ${path}`);
      }
      assert.equal((await bobsView(seeded.trip.id)).status, 200);
    });

    it('deletes another user’s todo', async () => {
      const doomed = await createTodo(bob, { title: 'Bob’s doomed todo' });
      const response = await admin.postForm(`/admin/todos/${doomed.id}/delete`, {});
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), '/admin?notice=deleted');
      assert.equal((await bobsView(doomed.id)).status, 404);
      assert.match(await admin.page('/admin?notice=deleted'), /The todo was deleted\./);
      for (const key of ['bogus', 'constructor', '<b>hi</b>']) {
        assert.doesNotMatch(
          await admin.page(`/admin?notice=${encodeURIComponent(key)}`),
          /role="status"/,
          'only known notices are shown',
        );
      }
      assert.equal((await admin.postForm(`/admin/todos/${doomed.id}/delete`, {})).status, 404);
      assert.equal((await bobsView(seeded.trip.id)).status, 200, 'only that todo');
    });

    it('shows the users with their list and todo counts and actions, and each todo’s list', async () => {
      const created = await api(bob, '/api/lists', { method: 'POST', json: { name: 'Garage <tools>' } });
      assert.equal(created.status, 201);
      const garage = (await created.json()) as { id: number };
      const spanner = await api(bob, `/api/lists/${garage.id}/todos`, {
        method: 'POST',
        json: { title: 'Find the spanner' },
      });
      assert.equal(spanner.status, 201);
      const bobsCount = ((await (await api(bob, '/api/todos')).json()) as unknown[]).length + 1;
      assert.match(
        rowOf(await admin.page('/admin?q=spanner'), 'Find the spanner'),
        /<td>bob<\/td>\s*<td>Garage &lt;tools&gt;<\/td>/,
      );
      const page = await admin.page('/admin/users');
      const bobsRow = rowOf(page, '<th scope="row">bob</th>');
      assert.match(
        bobsRow,
        new RegExp(`<a href="/admin\\?owner=${bob.id}" aria-label="${bobsCount} todos of bob">${bobsCount}</a>`),
      );
      assert.match(bobsRow, /<td>no<\/td>\s*<td>no<\/td>\s*<td>2<\/td>/, 'not admin, not disabled, two lists');
      assert.match(bobsRow, /aria-label="Disable bob">Disable</);
      assert.match(bobsRow, /aria-label="Grant admin to bob">Grant admin</);
      const alicesRow = rowOf(page, '<th scope="row">alice</th>');
      assert.match(
        alicesRow,
        /<td>yes<\/td>\s*<td>no<\/td>\s*<td>1<\/td>\s*<td><a[^>]*>1<\/a><\/td>/,
        'one list (the Inbox), one todo',
      );
      assert.match(alicesRow, /\(you\)/);
      assert.doesNotMatch(alicesRow, /<button/, 'no buttons to lock yourself out');
      assert.equal(
        (page.match(/name="_csrf"/g) ?? []).length,
        (page.match(/<form /g) ?? []).length,
        'every form carries the CSRF token',
      );
      assert.equal((await api(bob, `/api/lists/${garage.id}`, { method: 'DELETE' })).status, 204);
    });

    it('disabling a user ends their sessions and logins; enabling lets them back in', async () => {
      const bobsBrowser = await t.browserFor(bob);
      assert.equal((await bobsBrowser.fetch('/')).status, 200);

      const response = await admin.postForm(`/admin/users/${bob.id}/disable`, {});
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), '/admin/users?notice=disable');
      assert.equal((await userRow('bob')).isDisabled, true);

      const after = await bobsBrowser.fetch('/');
      assert.equal(after.status, 303);
      assert.equal(after.headers.get('location'), '/login');
      const fresh = new BrowserSession(t.baseUrl);
      await fresh.page('/login');
      const login = await fresh.postForm('/login', { username: bob.username, password: bob.password });
      assert.equal(login.status, 401);
      assert.match(await login.text(), /This account is disabled/);
      assert.equal((await api(bob, '/api/todos')).status, 401, 'his API token stops working too');
      const page = await admin.page('/admin/users?notice=disable');
      assert.match(page, /The user was disabled/);
      assert.match(rowOf(page, '<th scope="row">bob</th>'), /aria-label="Enable bob">Enable</);

      assert.equal((await admin.postForm(`/admin/users/${bob.id}/enable`, {})).status, 303);
      assert.equal((await userRow('bob')).isDisabled, false);
      const again = await t.browserFor(bob);
      assert.equal((await again.fetch('/')).status, 200);
      assert.equal((await api(bob, '/api/todos')).status, 200);
    });

    it('grants and revokes admin rights, effective on the next request', async () => {
      const bobsBrowser = await t.browserFor(bob);
      assert.equal((await bobsBrowser.fetch('/admin')).status, 404);

      const granted = await admin.postForm(`/admin/users/${bob.id}/grant-admin`, {});
      assert.equal(granted.status, 303);
      assert.equal(granted.headers.get('location'), '/admin/users?notice=grant-admin');
      assert.equal((await userRow('bob')).isAdmin, true);
      assert.match(
        rowOf(await admin.page('/admin/users'), '<th scope="row">bob</th>'),
        /aria-label="Revoke admin from bob">Revoke admin</,
      );
      assert.equal((await bobsBrowser.fetch('/admin')).status, 200, 'the same session, now an admin');
      assert.deepEqual(listedTitles(await bobsBrowser.page('/admin?q=milk')), ['Alice buys milk']);

      assert.equal((await admin.postForm(`/admin/users/${bob.id}/revoke-admin`, {})).status, 303);
      assert.equal((await userRow('bob')).isAdmin, false);
      assert.equal((await bobsBrowser.fetch('/admin')).status, 404);
    });

    it('will not let an admin disable themself or revoke their own admin rights', async () => {
      for (const [action, message] of [
        ['disable', /You cannot disable your own account/],
        ['revoke-admin', /You cannot revoke your own admin rights/],
      ] as const) {
        const response = await admin.postForm(`/admin/users/${t.alice.id}/${action}`, {});
        assert.equal(response.status, 400);
        const page = await response.text();
        assert.match(page, /role="alert"/);
        assert.match(page, message);
      }
      const alice = await userRow('alice');
      assert.deepEqual([alice.isAdmin, alice.isDisabled], [true, false]);
      assert.equal((await admin.fetch('/admin')).status, 200);
    });

    describe('to anyone but an admin’s browser, the area does not exist', () => {
      const getPaths = () => [
        '/admin',
        '/admin?q=milk',
        '/admin?owner=abc',
        '/admin/users',
        '/admin/replication',
        `/admin/todos/${alicesTodo.id}`,
        `/admin/todos/${seeded.trip.id}`,
        '/admin/todos/abc',
        '/admin/users/1/disable',
        '/admin/no-such-page',
      ];
      const postForms = (): [string, Record<string, string>][] => [
        [`/admin/todos/${alicesTodo.id}`, { title: 'hijacked', notes: '', dueDate: '' }],
        [`/admin/todos/${alicesTodo.id}`, { title: '' }],
        [`/admin/todos/${alicesTodo.id}/delete`, {}],
        [`/admin/todos/${seeded.trip.id}/delete`, {}],
        ['/admin/users/1/disable', {}],
        [`/admin/users/${t.alice.id}/disable`, {}],
        [`/admin/users/${t.alice.id}/revoke-admin`, {}],
        [`/admin/users/${bob.id}/grant-admin`, {}],
        [`/admin/users/${bob.id}/enable`, {}],
        ['/admin', {}],
        ['/admin/users', {}],
        ['/admin/no-such-page', {}],
        ['/admin/users/abc/disable', {}],
      ];

      async function snapshot() {
        const users = (await usersRepository.listWithTodoCounts(t.db)).map(
          ({ username, isAdmin, isDisabled, todoCount }) => ({ username, isAdmin, isDisabled, todoCount }),
        );
        const todos = await t.db.query(
          'SELECT id, title, notes, due_date::text, completed, updated_at FROM todos ORDER BY id',
        );
        return { users, todos };
      }

      async function assertAllMissing(browser: BrowserSession) {
        const before = await snapshot();
        const reference = await browser.fetch('/no-such-page');
        assert.equal(reference.status, 404);
        const notFoundPage = await reference.text();
        for (const path of getPaths()) {
          const response = await browser.fetch(path);
          assert.equal(response.status, 404, `GET ${path}`);
          assert.equal(await response.text(), notFoundPage, `GET ${path} looks like any missing page`);
        }
        const jsonReference = await (
          await browser.fetch('/no-such-page', { headers: { accept: 'application/json' } })
        ).text();
        assert.equal(
          await (await browser.fetch('/admin', { headers: { accept: 'application/json' } })).text(),
          jsonReference,
        );
        for (const [path, fields] of postForms()) {
          const response = await browser.postForm(path, fields);
          assert.equal(response.status, 404, `POST ${path}`);
          assert.equal(await response.text(), notFoundPage, `POST ${path} looks like any missing page`);
        }
        // Even without a CSRF token, or with a body that is not a form at all.
        assert.equal((await browser.fetch('/admin/users/1/disable', { method: 'POST' })).status, 404);
        assert.equal(
          (
            await browser.fetch('/admin/users/1/disable', {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: '{',
            })
          ).status,
          404,
        );
        assert.deepEqual(await snapshot(), before, 'nothing changed');
      }

      it('a logged-in user who is not an admin gets 404 everywhere', async () => {
        const bobsBrowser = await t.browserFor(bob);
        assert.ok(bobsBrowser.csrfToken, 'bob posts with his own valid CSRF token');
        assert.doesNotMatch(await bobsBrowser.page('/'), /href="\/admin"/, 'no link to the area either');
        await assertAllMissing(bobsBrowser);
        // …and his session still works: it was only the admin area that was missing.
        assert.equal((await bobsBrowser.fetch('/')).status, 200);
      });

      it('a logged-out browser gets 404 everywhere', async () => {
        const browser = new BrowserSession(t.baseUrl);
        await browser.page('/login'); // carries the logged-out CSRF token into its posts
        await assertAllMissing(browser);
      });

      it('an admin’s API token gets 404 too: the area is for browser sessions', async () => {
        const before = await snapshot();
        assert.equal((await t.request('/admin')).status, 404);
        assert.equal((await t.request('/admin/users')).status, 404);
        assert.equal((await t.request('/admin/replication')).status, 404);
        const form = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } };
        assert.equal((await t.request(`/admin/users/${bob.id}/disable`, { ...form, body: '' })).status, 404);
        assert.equal((await t.request(`/admin/todos/${seeded.trip.id}/delete`, { ...form, body: '' })).status, 404);
        assert.deepEqual(await snapshot(), before);
      });
    });

    it('shows markup in titles, notes and searches as text', async () => {
      const notes = '</textarea><script>alert(2)</script>';
      const nasty = [
        await createTodo(bob, { title: '<script>alert(1)</script>', notes }),
        await createTodo(bob, { title: '"><img src=x onerror=alert(1)>', notes }),
      ];
      const list = await admin.page(`/admin?owner=${bob.id}`);
      const search = await admin.page(`/admin?q=${encodeURIComponent('"><img src=x onerror=alert(1)>')}`);
      const edits = await Promise.all(nasty.map((todo) => admin.page(`/admin/todos/${todo.id}`)));
      for (const page of [list, search, ...edits]) {
        assert.ok(!page.includes('<script>alert'), 'no script element');
        assert.ok(!page.includes('<img src=x'), 'no img element');
        assert.ok(!page.includes('"><img'), 'no attribute break-out');
      }
      assert.ok(list.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
      assert.ok(list.includes('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'));
      assert.match(search, /value="&quot;&gt;&lt;img src=x onerror=alert\(1\)&gt;"/);
      assert.ok(edits[0]?.includes('value="&lt;script&gt;alert(1)&lt;/script&gt;"'));
      assert.ok(edits[1]?.includes('aria-label="Delete todo &quot;&gt;&lt;img src=x onerror=alert(1)&gt;"'));
      assert.ok(
        edits[0]?.includes(
          '<textarea name="notes" rows="6">&lt;/textarea&gt;&lt;script&gt;alert(2)&lt;/script&gt;</textarea>',
        ),
      );
    });

    it('refuses posts without a valid CSRF token with 403, changing nothing', async () => {
      const bobsBrowser = await t.browserFor(bob);
      const { id } = seeded.trip;
      const before = { todo: await (await bobsView(id)).json(), bob: await userRow('bob') };
      const posts: [string, Record<string, string>][] = [
        [`/admin/users/${bob.id}/disable`, {}],
        [`/admin/users/${bob.id}/grant-admin`, {}],
        [`/admin/todos/${id}`, { title: 'forged', notes: '', dueDate: '' }],
        [`/admin/todos/${id}/delete`, {}],
      ];
      for (const [path, fields] of posts) {
        for (const token of ['', 'x'.repeat(43), bobsBrowser.csrfToken ?? '']) {
          const response = await admin.postForm(path, { ...fields, _csrf: token });
          assert.equal(response.status, 403, `${path} with token ${JSON.stringify(token.slice(0, 5))}`);
        }
        const withoutField = await admin.fetch(path, { method: 'POST', body: new URLSearchParams(fields) });
        assert.equal(withoutField.status, 403, `${path} without a token`);
        assert.match(await withoutField.text(), /CSRF/);
      }
      assert.deepEqual({ todo: await (await bobsView(id)).json(), bob: await userRow('bob') }, before);
    });
  });
}
