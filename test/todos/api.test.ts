// The JSON API on both engines: the Todo-Backend contract, listing, and every
// kind of bad input (status, message naming the field, nothing changed).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ENGINES, startTestApp, type TestApp, type TestUser, type TodoJson } from '../support/app.ts';

for (const engine of ENGINES) {
  describe(`todo API on ${engine}`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(engine);
    });
    after(() => t.close());

    async function create(body: Record<string, unknown>): Promise<TodoJson> {
      const response = await t.request('/api/todos', { method: 'POST', json: body });
      assert.equal(response.status, 201, await response.clone().text());
      return (await response.json()) as TodoJson;
    }
    async function list(query = ''): Promise<TodoJson[]> {
      const response = await t.request(`/api/todos${query}`);
      assert.equal(response.status, 200);
      return (await response.json()) as TodoJson[];
    }
    async function clear() {
      assert.equal((await t.request('/api/todos', { method: 'DELETE' })).status, 204);
    }

    describe('the Todo-Backend contract', () => {
      before(clear);

      it('creates a todo with defaults, an absolute url and a Location header', async () => {
        const response = await t.request('/api/todos', { method: 'POST', json: { title: '  walk the dog  ' } });
        assert.equal(response.status, 201);
        const todo = (await response.json()) as TodoJson;
        assert.equal(todo.title, 'walk the dog');
        assert.equal(todo.completed, false);
        assert.equal(todo.notes, '');
        assert.equal(todo.dueDate, null);
        assert.equal(typeof todo.order, 'number');
        assert.match(todo.url, new RegExp(`^${t.baseUrl}/api/todos/${todo.id}$`));
        assert.equal(response.headers.get('location'), todo.url);
        assert.ok(!Number.isNaN(Date.parse(todo.createdAt)));
        const fetched = await t.request(todo.url);
        assert.equal(fetched.status, 200);
        assert.deepEqual(await fetched.json(), todo);
      });

      it('answers a write with exactly the bytes a read of the same todo answers (the database writes one, JavaScript the other)', async () => {
        const awkward = 'Quote " backslash \\ slash / tab \t bell \u0007 line\nbreak é 😀 <b>&amp;</b>';
        const response = await t.request('/api/todos', {
          method: 'POST',
          json: {
            title: awkward.replace(/\s+$/, ''),
            notes: awkward,
            dueDate: '2031-12-31',
            completed: true,
            order: -5,
          },
        });
        assert.equal(response.status, 201);
        const created = await response.text();
        const url = (JSON.parse(created) as TodoJson).url;
        assert.equal(await (await t.request(url)).text(), created);
        const patched = await t.request(url, { method: 'PATCH', json: { title: 'plain' } });
        assert.equal(patched.status, 200);
        assert.equal(await (await t.request(url)).text(), await patched.text());
        const unchanged = await t.request(url, { method: 'PATCH', json: {} });
        assert.equal(unchanged.status, 200);
        assert.equal(await unchanged.text(), await (await t.request(url)).text());
      });

      it('a new todo after one at the highest order still gets made, at that order (never an integer overflow)', async () => {
        await create({ title: 'last possible', order: 2147483647 });
        const response = await t.request('/api/todos', { method: 'POST', json: { title: 'after it' } });
        assert.equal(response.status, 201, await response.clone().text());
        assert.equal(((await response.json()) as TodoJson).order, 2147483647);
      });

      it('patches only the given fields', async () => {
        const todo = await create({ title: 'read', notes: 'a book', dueDate: '2026-03-01', order: 7 });
        const response = await t.request(`/api/todos/${todo.id}`, { method: 'PATCH', json: { completed: true } });
        assert.equal(response.status, 200);
        const patched = (await response.json()) as TodoJson;
        assert.deepEqual({ ...patched, updatedAt: todo.updatedAt }, { ...todo, completed: true });
        assert.ok(Date.parse(patched.updatedAt) >= Date.parse(todo.updatedAt));
        const again = (await (
          await t.request(`/api/todos/${todo.id}`, {
            method: 'PATCH',
            json: { title: 'reread', dueDate: null, notes: '' },
          })
        ).json()) as TodoJson;
        assert.equal(again.title, 'reread');
        assert.equal(again.dueDate, null);
        assert.equal(again.notes, '');
        assert.equal(again.completed, true);
        assert.equal(again.order, 7);
      });

      it('deletes one todo, then it is gone', async () => {
        const todo = await create({ title: 'to delete' });
        assert.equal((await t.request(`/api/todos/${todo.id}`, { method: 'DELETE' })).status, 204);
        assert.equal((await t.request(`/api/todos/${todo.id}`)).status, 404);
        assert.equal((await t.request(`/api/todos/${todo.id}`, { method: 'DELETE' })).status, 404);
      });

      it('DELETE on the collection empties it', async () => {
        await create({ title: 'one' });
        await clear();
        assert.deepEqual(await list(), []);
      });
    });

    describe('listing', () => {
      before(clear);

      it('lists newest first, filters by completion and text, and pages with a Link header', async () => {
        const first = await create({ title: 'first', notes: 'alpha' });
        const second = await create({ title: 'second 100%', completed: true });
        const third = await create({ title: 'third', notes: 'beta gamma' });
        assert.deepEqual(
          (await list()).map((todo) => todo.id),
          [third.id, second.id, first.id],
        );
        assert.deepEqual(
          (await list('?completed=true')).map((todo) => todo.id),
          [second.id],
        );
        assert.deepEqual(
          (await list('?completed=false')).map((todo) => todo.id),
          [third.id, first.id],
        );
        assert.deepEqual(
          (await list('?q=GAMMA')).map((todo) => todo.id),
          [third.id],
        );
        assert.deepEqual(
          (await list('?q=100%25')).map((todo) => todo.id),
          [second.id],
          '% is literal, not a wildcard',
        );
        assert.deepEqual(await list('?q=_'), [], '_ is literal, not a wildcard');

        const page1 = await t.request('/api/todos?limit=2');
        assert.deepEqual(
          ((await page1.json()) as TodoJson[]).map((todo) => todo.id),
          [third.id, second.id],
        );
        const next = /<([^>]+)>; rel="next"/.exec(page1.headers.get('link') ?? '')?.[1];
        assert.ok(next, 'a Link header names the next page');
        const page2 = await t.request(next);
        assert.deepEqual(
          ((await page2.json()) as TodoJson[]).map((todo) => todo.id),
          [first.id],
        );
        assert.equal(page2.headers.get('link'), null, 'no next page after the last');
      });

      it('sorts by due date (undated last) or by manual order', async () => {
        await clear();
        const late = await create({ title: 'late', dueDate: '2026-09-01', order: 2 });
        const undated = await create({ title: 'undated', order: 3 });
        const soon = await create({ title: 'soon', dueDate: '2026-01-01', order: 1 });
        assert.deepEqual(
          (await list('?sort=due')).map((todo) => todo.id),
          [soon.id, late.id, undated.id],
        );
        assert.deepEqual(
          (await list('?sort=order')).map((todo) => todo.id),
          [soon.id, late.id, undated.id],
        );
        assert.deepEqual(
          (await list('?sort=newest')).map((todo) => todo.id),
          [soon.id, undated.id, late.id],
        );
      });
    });

    describe('bulk actions, each in one statement', () => {
      let bob: TestUser;
      let bobs: TodoJson;
      const asBob = (pathname: string, init: Parameters<TestApp['request']>[1] = {}) =>
        t.request(pathname, { ...init, headers: { authorization: `Bearer ${bob.token}` } });
      const bobsList = async () => (await (await asBob('/api/todos')).json()) as TodoJson[];
      const states = async () => (await list()).map((todo) => [todo.title, todo.completed]);

      before(async () => {
        bob = await t.createUser(`bob-bulk-${engine}`);
        bobs = (await (
          await asBob('/api/todos', { method: 'POST', json: { title: 'bob’s, done', completed: true } })
        ).json()) as TodoJson;
      });
      beforeEach(clear);

      async function assertBobUntouched() {
        assert.deepEqual(await bobsList(), [bobs], 'another person’s todos are untouched');
      }

      it('PATCH /api/todos completes or reopens all, answering how many changed', async () => {
        await create({ title: 'a' });
        await create({ title: 'b', completed: true });
        const done = await t.request('/api/todos', { method: 'PATCH', json: { completed: true } });
        assert.equal(done.status, 200);
        assert.deepEqual(await done.json(), { count: 1 });
        assert.deepEqual(await states(), [
          ['b', true],
          ['a', true],
        ]);
        const reopened = await t.request('/api/todos', { method: 'PATCH', json: { completed: false } });
        assert.deepEqual(await reopened.json(), { count: 2 });
        assert.deepEqual(await states(), [
          ['b', false],
          ['a', false],
        ]);
        await assertBobUntouched();
      });

      it('DELETE /api/todos?completed=true clears the completed ones; =false the active ones', async () => {
        await create({ title: 'open' });
        await create({ title: 'done', completed: true });
        assert.equal((await t.request('/api/todos?completed=true', { method: 'DELETE' })).status, 204);
        assert.deepEqual(await states(), [['open', false]]);
        await create({ title: 'done again', completed: true });
        assert.equal((await t.request('/api/todos?completed=false', { method: 'DELETE' })).status, 204);
        assert.deepEqual(await states(), [['done again', true]]);
        await assertBobUntouched();
      });

      it('POST /api/todos/delete deletes the listed todos of the caller, ignoring others’ and unknown ids', async () => {
        const [a, b, c] = [await create({ title: 'a' }), await create({ title: 'b' }), await create({ title: 'c' })];
        const response = await t.request('/api/todos/delete', {
          method: 'POST',
          json: { ids: [a.id, c.id, bobs.id, 2_000_000_000] },
        });
        assert.equal(response.status, 200);
        assert.deepEqual(await response.json(), { count: 2 });
        assert.deepEqual(
          (await list()).map((todo) => todo.id),
          [b.id],
        );
        await assertBobUntouched();
      });

      it('POST /api/todos/{id}/move swaps places in manual order, and stays put at either end', async () => {
        const [a, b, c] = [await create({ title: 'a' }), await create({ title: 'b' }), await create({ title: 'c' })];
        const byOrder = async () => (await list('?sort=order')).map((todo) => todo.title);
        assert.deepEqual(await byOrder(), ['a', 'b', 'c']);
        const moved = await t.request(`/api/todos/${c.id}/move`, { method: 'POST', json: { direction: 'up' } });
        assert.equal(moved.status, 200);
        assert.equal(((await moved.json()) as TodoJson).order, b.order);
        assert.deepEqual(await byOrder(), ['a', 'c', 'b']);
        assert.equal(
          (await t.request(`/api/todos/${a.id}/move`, { method: 'POST', json: { direction: 'up' } })).status,
          200,
        );
        assert.deepEqual(await byOrder(), ['a', 'c', 'b'], 'the first stays first');
        await t.request(`/api/todos/${a.id}/move`, { method: 'POST', json: { direction: 'down' } });
        assert.deepEqual(await byOrder(), ['c', 'a', 'b']);
        const others = await t.request(`/api/todos/${bobs.id}/move`, { method: 'POST', json: { direction: 'up' } });
        assert.equal(others.status, 404);
        assert.deepEqual(await others.json(), { error: 'Todo not found' });
        await assertBobUntouched();
      });

      it('bad input → 400 naming the field, and nothing changes', async () => {
        const kept = [await create({ title: 'keep', completed: true }), await create({ title: 'these' })];
        const before = await list();
        const cases: [string, string, unknown, string, RegExp?][] = [
          ['PATCH', '/api/todos', {}, 'completed', /required/],
          ['PATCH', '/api/todos', { completed: 'yes' }, 'completed', /true or false/],
          ['PATCH', '/api/todos', { completed: true, title: 'all the same' }, 'title', /not a known field/],
          ['POST', '/api/todos/delete', {}, 'ids', /required/],
          ['POST', '/api/todos/delete', { ids: [] }, 'ids', /at least 1/],
          ['POST', '/api/todos/delete', { ids: String(kept[0]?.id) }, 'ids', /array/],
          ['POST', '/api/todos/delete', { ids: [kept[0]?.id, 'x'] }, 'ids.1', /integer/],
          ['POST', '/api/todos/delete', { ids: [kept[0]?.id, 1.5] }, 'ids.1', /integer/],
          ['POST', '/api/todos/delete', { ids: [0] }, 'ids.0', /at least 1/],
          [
            'POST',
            '/api/todos/delete',
            { ids: Array.from({ length: 1001 }, (_, index) => index + 1) },
            'ids',
            /at most 1000/,
          ],
          ['POST', '/api/todos/delete', { ids: [kept[0]?.id], completed: true }, 'completed', /not a known field/],
          ['POST', `/api/todos/${kept[1]?.id}/move`, { direction: 'sideways' }, 'direction', /one of: up, down/],
          ['POST', `/api/todos/${kept[1]?.id}/move`, {}, 'direction', /required/],
          ['DELETE', '/api/todos?completed=maybe', undefined, 'completed'],
          ['DELETE', '/api/todos?colour=red', undefined, 'colour', /not a known field/],
        ];
        for (const [method, pathname, json, field, message] of cases) {
          const response = await t.request(pathname, { method, json });
          const label = `${method} ${pathname} ${JSON.stringify(json)?.slice(0, 60)}`;
          assert.equal(response.status, 400, label);
          const body = (await response.json()) as { details?: { field: string; message: string }[] };
          const detail = body.details?.find((entry) => entry.field === field);
          assert.ok(detail, `${label}: details name ${field}: ${JSON.stringify(body)}`);
          if (message) assert.match(detail.message, message, label);
        }
        assert.deepEqual(await list(), before);
        await assertBobUntouched();
      });
    });

    describe('bad input changes nothing', () => {
      let existing: TodoJson;
      before(async () => {
        await clear();
        existing = await create({ title: 'keep me', notes: 'as I am', dueDate: '2026-05-05', order: 3 });
      });

      async function assertUnchanged() {
        assert.deepEqual(await list(), [existing]);
      }

      async function expectError(response: Response, status: number, field: string, message?: RegExp) {
        assert.equal(response.status, status);
        assert.match(response.headers.get('content-type') ?? '', /application\/json/);
        const body = (await response.json()) as { error: string; details?: { field: string; message: string }[] };
        assert.equal(typeof body.error, 'string');
        const detail = body.details?.find((entry) => entry.field === field);
        assert.ok(detail, `details name ${field}: ${JSON.stringify(body)}`);
        if (message) assert.match(detail.message, message);
        assert.doesNotMatch(JSON.stringify(body), /at .*\.(ts|js):\d+|node_modules|SELECT|INSERT/);
        await assertUnchanged();
      }

      const post = (body: string, contentType = 'application/json') =>
        t.request('/api/todos', { method: 'POST', body, headers: { 'content-type': contentType } });
      const patch = (body: unknown) => t.request(`/api/todos/${existing.id}`, { method: 'PATCH', json: body });

      it('malformed JSON → 400', async () => {
        await expectError(await post('{"title": "oops"'), 400, 'body', /JSON/);
      });
      it('wrong content type → 415', async () => {
        await expectError(await post('title=oops', 'text/plain'), 415, 'Content-Type');
      });
      it('body over the limit → 413', async () => {
        await expectError(await post(JSON.stringify({ title: 'x', notes: 'n'.repeat(200_000) })), 413, 'body');
      });
      it('unknown field → 400', async () => {
        await expectError(
          await post(JSON.stringify({ title: 'ok', colour: 'red' })),
          400,
          'colour',
          /not a known field/,
        );
        await expectError(await patch({ owner: 1 }), 400, 'owner', /not a known field/);
      });
      it('missing title → 400', async () => {
        await expectError(await post(JSON.stringify({ notes: 'no title' })), 400, 'title', /required/);
      });
      it('wrong types → 400', async () => {
        await expectError(await post(JSON.stringify({ title: 42 })), 400, 'title', /string/);
        await expectError(await post(JSON.stringify({ title: 'ok', completed: 'yes' })), 400, 'completed');
        await expectError(await patch({ completed: 1 }), 400, 'completed');
        await expectError(await post(JSON.stringify(['title'])), 400, 'body');
      });
      it('empty or whitespace title → 400', async () => {
        await expectError(await post(JSON.stringify({ title: '' })), 400, 'title', /empty/);
        await expectError(await post(JSON.stringify({ title: '  \t ' })), 400, 'title', /empty/);
        await expectError(await patch({ title: '   ' }), 400, 'title', /empty/);
      });
      it('a 251-character title → 400; 250 is fine', async () => {
        await expectError(await post(JSON.stringify({ title: 'x'.repeat(251) })), 400, 'title', /250/);
        await expectError(await patch({ title: 'x'.repeat(251) }), 400, 'title', /250/);
        const ok = await create({ title: `  ${'y'.repeat(250)}  ` });
        assert.equal(ok.title.length, 250);
        assert.equal((await t.request(`/api/todos/${ok.id}`, { method: 'DELETE' })).status, 204);
      });
      it('an impossible date → 400', async () => {
        await expectError(await post(JSON.stringify({ title: 'ok', dueDate: '2026-02-30' })), 400, 'dueDate', /date/);
        await expectError(
          await post(JSON.stringify({ title: 'ok', dueDate: '2026-2-3' })),
          400,
          'dueDate',
          /YYYY-MM-DD/,
        );
        await expectError(await patch({ dueDate: 'tomorrow' }), 400, 'dueDate');
      });
      it('non-integer or out-of-range order → 400', async () => {
        await expectError(await post(JSON.stringify({ title: 'ok', order: 1.5 })), 400, 'order', /integer/);
        await expectError(await post(JSON.stringify({ title: 'ok', order: '2' })), 400, 'order', /integer/);
        await expectError(await post(JSON.stringify({ title: 'ok', order: 2 ** 31 })), 400, 'order', /at most/);
        await expectError(await patch({ order: -(2 ** 31) - 1 }), 400, 'order', /at least/);
      });
      it('bad query parameters → 400', async () => {
        await expectError(await t.request('/api/todos?completed=maybe'), 400, 'completed');
        await expectError(await t.request('/api/todos?limit=0'), 400, 'limit');
        await expectError(await t.request('/api/todos?cursor=nonsense'), 400, 'cursor');
        await expectError(await t.request('/api/todos?sort=sideways'), 400, 'sort');
        await expectError(
          await t.request('/api/todos?sort=due&cursor=MjAyNi0wMS0wMVQwMDowMDowMC4wMDBafDE'),
          400,
          'cursor',
          /sort=newest/,
        );
      });
      it('a non-numeric, huge or unknown id → 404', async () => {
        for (const id of ['abc', '1.5', '-1', '0', '99999999999999999999', String(existing.id + 1000)]) {
          for (const method of ['GET', 'PATCH', 'DELETE']) {
            const response = await t.request(`/api/todos/${id}`, {
              method,
              ...(method === 'PATCH' ? { json: { title: 'changed' } } : {}),
            });
            assert.equal(response.status, 404, `${method} ${id}`);
            assert.deepEqual(await response.json(), { error: 'Todo not found' });
          }
        }
        await assertUnchanged();
      });
    });
  });
}

describe('the API description', () => {
  it('serves an OpenAPI 3 document built from the validation schemas, and a docs page', async () => {
    const t = await startTestApp('pglite');
    try {
      const response = await t.request('/api/openapi.json');
      assert.equal(response.status, 200);
      const document = (await response.json()) as {
        openapi: string;
        paths: Record<
          string,
          Record<
            string,
            {
              requestBody?: {
                content: Record<
                  string,
                  { schema: { properties: Record<string, unknown>; additionalProperties: boolean } }
                >;
              };
            }
          >
        >;
      };
      assert.match(document.openapi, /^3\./);
      assert.deepEqual(Object.keys(document.paths).sort(), [
        '/api/events',
        '/api/lists',
        '/api/lists/{listId}',
        '/api/lists/{listId}/members',
        '/api/lists/{listId}/members/{username}',
        '/api/lists/{listId}/todos',
        '/api/lists/{listId}/todos/delete',
        '/api/todos',
        '/api/todos/delete',
        '/api/todos/{id}',
        '/api/todos/{id}/move',
      ]);
      assert.deepEqual(Object.keys(document.paths['/api/todos'] ?? {}).sort(), ['delete', 'get', 'patch', 'post']);
      assert.deepEqual(Object.keys(document.paths['/api/todos/delete'] ?? {}), ['post']);
      assert.deepEqual(Object.keys(document.paths['/api/todos/{id}/move'] ?? {}), ['post']);
      assert.deepEqual(Object.keys(document.paths['/api/todos/{id}'] ?? {}).sort(), ['delete', 'get', 'patch']);
      const createSchema = document.paths['/api/todos']?.post?.requestBody?.content['application/json']?.schema;
      assert.deepEqual(Object.keys(createSchema?.properties ?? {}).sort(), [
        'completed',
        'dueDate',
        'notes',
        'order',
        'title',
      ]);
      assert.equal(createSchema?.additionalProperties, false);
      const docs = await t.request('/api/docs/');
      assert.equal(docs.status, 200);
      assert.match(await docs.text(), /<html/i);
    } finally {
      await t.close();
    }
  });
});
