// Lists and sharing through the API, on both engines: what an owner, an
// editor, a viewer and a stranger may each do, by every route.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ENGINES, startTestApp, type TestApp, type TestUser, type TodoJson } from '../support/app.ts';
import type { ListJson } from '../../src/features/lists/schemas.ts';

for (const engine of ENGINES) {
  describe(`lists and sharing on ${engine}`, () => {
    let t: TestApp;
    let bob: TestUser;
    let carol: TestUser;
    before(async () => {
      t = await startTestApp(engine);
      bob = await t.createUser('bob');
      carol = await t.createUser('carol');
    });
    after(() => t.close());

    const as = (user: TestUser, path: string, init: RequestInit & { json?: unknown } = {}) =>
      t.request(path, { ...init, headers: { authorization: `Bearer ${user.token}`, ...init.headers } });
    const json = async <T>(response: Response, status: number): Promise<T> => {
      const text = await response.text();
      assert.equal(response.status, status, text);
      return JSON.parse(text) as T;
    };
    const newList = async (user: TestUser, name: string) =>
      json<ListJson>(await as(user, '/api/lists', { method: 'POST', json: { name } }), 201);
    const newTodo = async (user: TestUser, listId: number, title: string) =>
      json<TodoJson>(await as(user, `/api/lists/${listId}/todos`, { method: 'POST', json: { title } }), 201);

    it('gives every account an Inbox, the list of /api/todos', async () => {
      const lists = await json<ListJson[]>(await as(carol, '/api/lists'), 200);
      assert.equal(lists.length, 1);
      const [inbox] = lists;
      assert.ok(inbox);
      assert.deepEqual(
        { ...inbox, uid: 'u' },
        {
          id: carol.inboxId,
          uid: 'u',
          name: 'Inbox',
          role: 'owner',
          owner: 'carol',
          activeCount: 0,
          position: 0,
          inbox: true,
          archived: false,
          url: `${t.baseUrl}/api/lists/${carol.inboxId}`,
        },
      );
      const todo = await json<TodoJson>(
        await as(carol, '/api/todos', { method: 'POST', json: { title: 'mine' } }),
        201,
      );
      assert.equal(todo.listId, carol.inboxId);
      assert.match(todo.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const listed = await json<TodoJson[]>(await as(carol, `/api/lists/${carol.inboxId}/todos`), 200);
      assert.deepEqual(
        listed.map((each) => each.id),
        [todo.id],
      );
      assert.equal((await json<ListJson[]>(await as(carol, '/api/lists'), 200))[0]?.activeCount, 1);
    });

    it('creates, renames, reorders and archives a list; keeps the Inbox; rejects bad names naming the field', async () => {
      const list = await newList(t.alice, '  Groceries  ');
      assert.equal(list.name, 'Groceries');
      assert.equal(list.inbox, false);
      for (const name of ['   ', '', 'x'.repeat(101)]) {
        const refused = await json<{ details: { field: string }[] }>(
          await t.request('/api/lists', { method: 'POST', json: { name } }),
          400,
        );
        assert.equal(refused.details[0]?.field, 'name');
      }
      const renamed = await json<ListJson>(
        await t.request(`/api/lists/${list.id}`, {
          method: 'PATCH',
          json: { name: 'Shopping', position: -3, archived: true },
        }),
        200,
      );
      assert.deepEqual([renamed.name, renamed.position, renamed.archived], ['Shopping', -3, true]);
      const back = await json<ListJson>(
        await t.request(`/api/lists/${list.id}`, { method: 'PATCH', json: { archived: false } }),
        200,
      );
      assert.equal(back.archived, false);
      const inbox = t.alice.inboxId;
      assert.equal((await t.request(`/api/lists/${inbox}`, { method: 'PATCH', json: { archived: true } })).status, 409);
      assert.equal((await t.request(`/api/lists/${inbox}`, { method: 'DELETE' })).status, 409);
      const names = (await json<ListJson[]>(await t.request('/api/lists'), 200)).map((each) => each.name);
      assert.deepEqual(names, ['Inbox', 'Shopping']);
    });

    it('deletes a list with its todos, and nothing of anyone else', async () => {
      const list = await newList(t.alice, 'Doomed');
      const todo = await newTodo(t.alice, list.id, 'goes with it');
      const kept = await json<TodoJson>(
        await t.request('/api/todos', { method: 'POST', json: { title: 'stays' } }),
        201,
      );
      assert.equal((await t.request(`/api/lists/${list.id}`, { method: 'DELETE' })).status, 204);
      assert.equal((await t.request(`/api/todos/${todo.id}`)).status, 404);
      assert.equal((await t.request(`/api/lists/${list.id}`)).status, 404);
      assert.equal((await t.request(`/api/todos/${kept.id}`)).status, 200);
    });

    it('lets a viewer read a shared list and change nothing (403), an editor change its todos but not the list', async () => {
      const list = await newList(t.alice, 'Household');
      const todo = await newTodo(t.alice, list.id, 'Buy milk');
      const shared = await json<{ username: string; role: string }>(
        await t.request(`/api/lists/${list.id}/members/BOB`, { method: 'PUT', json: { role: 'viewer' } }),
        200,
      );
      assert.deepEqual(shared, { username: 'bob', role: 'viewer' });
      const seen = (await json<ListJson[]>(await as(bob, '/api/lists'), 200)).find((each) => each.id === list.id);
      assert.deepEqual([seen?.role, seen?.owner, seen?.activeCount], ['viewer', 'alice', 1]);
      assert.equal((await json<TodoJson[]>(await as(bob, `/api/lists/${list.id}/todos`), 200))[0]?.title, 'Buy milk');
      assert.equal((await json<TodoJson>(await as(bob, `/api/todos/${todo.id}`), 200)).title, 'Buy milk');
      assert.deepEqual(await json(await as(bob, `/api/lists/${list.id}/members`), 200), [
        { username: 'bob', role: 'viewer' },
      ]);

      const viewerWrites: [string, string, unknown?][] = [
        ['POST', `/api/lists/${list.id}/todos`, { title: 'sneaky' }],
        ['PATCH', `/api/todos/${todo.id}`, { completed: true }],
        ['PATCH', `/api/todos/${todo.id}`, {}],
        ['POST', `/api/todos/${todo.id}/move`, { direction: 'up' }],
        ['DELETE', `/api/todos/${todo.id}`],
        ['PATCH', `/api/lists/${list.id}`, { name: 'Mine now' }],
        ['DELETE', `/api/lists/${list.id}`],
        ['PUT', `/api/lists/${list.id}/members/carol`, { role: 'editor' }],
      ];
      for (const [method, path, body] of viewerWrites) {
        const answer = await as(bob, path, { method, ...(body === undefined ? {} : { json: body }) });
        assert.equal(answer.status, 403, `${method} ${path}: ${await answer.text()}`);
      }
      assert.equal(
        (await t.request(`/api/todos/${todo.id}`).then((r) => r.json() as Promise<TodoJson>)).completed,
        false,
      );

      await json(
        await t.request(`/api/lists/${list.id}/members/bob`, { method: 'PUT', json: { role: 'editor' } }),
        200,
      );
      const added = await newTodo(bob, list.id, 'Bread');
      assert.equal(added.listId, list.id);
      const done = await json<TodoJson>(
        await as(bob, `/api/todos/${todo.id}`, { method: 'PATCH', json: { completed: true } }),
        200,
      );
      assert.equal(done.completed, true);
      assert.equal((await as(bob, `/api/todos/${added.id}`, { method: 'DELETE' })).status, 204);
      assert.equal((await as(bob, `/api/lists/${list.id}`, { method: 'PATCH', json: { name: 'x' } })).status, 403);
      assert.equal((await as(bob, `/api/lists/${list.id}`, { method: 'DELETE' })).status, 403);
      assert.equal(
        (await as(bob, `/api/lists/${list.id}/members/carol`, { method: 'PUT', json: { role: 'viewer' } })).status,
        403,
      );
      // A todo of alice's list, the owner deleted by neither.
      assert.equal((await t.request(`/api/todos/${todo.id}`)).status, 200);
    });

    it('moves a todo to another list the mover may edit, and refuses one they may not (400 naming listId)', async () => {
      const list = await newList(t.alice, 'Work');
      await json(
        await t.request(`/api/lists/${list.id}/members/bob`, { method: 'PUT', json: { role: 'editor' } }),
        200,
      );
      const todo = await newTodo(t.alice, list.id, 'Report');
      const moved = await json<TodoJson>(
        await as(bob, `/api/todos/${todo.id}`, { method: 'PATCH', json: { listId: bob.inboxId, title: 'Report!' } }),
        200,
      );
      assert.deepEqual([moved.listId, moved.title, moved.uid], [bob.inboxId, 'Report!', todo.uid]);
      assert.equal((await t.request(`/api/todos/${todo.id}`)).status, 404, 'alice no longer sees it');
      const refused = await json<{ details: { field: string }[] }>(
        await as(bob, `/api/todos/${todo.id}`, { method: 'PATCH', json: { listId: carol.inboxId } }),
        400,
      );
      assert.equal(refused.details[0]?.field, 'listId');
      assert.equal(
        (await as(bob, `/api/todos/${todo.id}`).then((r) => r.json() as Promise<TodoJson>)).listId,
        bob.inboxId,
      );
    });

    it('answers a stranger 404 for the list and its todos, by every route', async () => {
      const list = await newList(t.alice, 'Private');
      const todo = await newTodo(t.alice, list.id, 'Secret');
      const routes: [string, string, unknown?][] = [
        ['GET', `/api/lists/${list.id}`],
        ['GET', `/api/lists/${list.id}/todos`],
        ['GET', `/api/lists/${list.id}/todos?completed=false&limit=1`],
        ['POST', `/api/lists/${list.id}/todos`, { title: 'x' }],
        ['PATCH', `/api/lists/${list.id}`, { name: 'x' }],
        ['DELETE', `/api/lists/${list.id}`],
        ['GET', `/api/lists/${list.id}/members`],
        ['PUT', `/api/lists/${list.id}/members/carol`, { role: 'editor' }],
        ['DELETE', `/api/lists/${list.id}/members/carol`],
        ['GET', `/api/todos/${todo.id}`],
        ['PATCH', `/api/todos/${todo.id}`, { completed: true }],
        ['PATCH', `/api/todos/${todo.id}`, { listId: carol.inboxId }],
        ['POST', `/api/todos/${todo.id}/move`, { direction: 'down' }],
        ['DELETE', `/api/todos/${todo.id}`],
        ['PATCH', `/api/lists/${list.id}/todos`, { completed: true }],
        ['DELETE', `/api/lists/${list.id}/todos?completed=false`],
        ['DELETE', `/api/lists/${list.id}/todos`],
        ['POST', `/api/lists/${list.id}/todos/delete`, { ids: [todo.id] }],
        ['GET', '/api/lists/999999'],
        ['GET', '/api/lists/nope/todos'],
      ];
      for (const [method, path, body] of routes) {
        const answer = await as(carol, path, { method, ...(body === undefined ? {} : { json: body }) });
        assert.equal(answer.status, 404, `${method} ${path}: ${await answer.text()}`);
      }
      // Carol's own Inbox is not a way in either: a move into it needs the todo to be hers to change.
      assert.equal(
        (await t.request(`/api/todos/${todo.id}`).then((r) => r.json() as Promise<TodoJson>)).listId,
        list.id,
      );
      assert.ok(!(await json<ListJson[]>(await as(carol, '/api/lists'), 200)).some((each) => each.id === list.id));
    });

    it('changes a list’s todos in bulk (toggle all, clear completed, delete selected) for an editor; a viewer’s 403 changes nothing', async () => {
      const list = await newList(t.alice, 'Groceries');
      const [milk, eggs, bread] = [
        await newTodo(t.alice, list.id, 'Milk'),
        await newTodo(t.alice, list.id, 'Eggs'),
        await newTodo(t.alice, list.id, 'Bread'),
      ];
      const elsewhere = await newTodo(t.alice, t.alice.inboxId, 'In the Inbox');
      await json(
        await t.request(`/api/lists/${list.id}/members/bob`, { method: 'PUT', json: { role: 'editor' } }),
        200,
      );
      await json(
        await t.request(`/api/lists/${list.id}/members/carol`, { method: 'PUT', json: { role: 'viewer' } }),
        200,
      );
      const state = async () =>
        Object.fromEntries(
          (await json<TodoJson[]>(await t.request(`/api/lists/${list.id}/todos`), 200)).map((each) => [
            each.title,
            each.completed,
          ]),
        );
      const inboxTodo = async () => json<TodoJson>(await t.request(`/api/todos/${elsewhere.id}`), 200);

      // The viewer: 403 for each, and nothing changed.
      for (const [method, path, body] of [
        ['PATCH', `/api/lists/${list.id}/todos`, { completed: true }],
        ['DELETE', `/api/lists/${list.id}/todos?completed=true`],
        ['DELETE', `/api/lists/${list.id}/todos`],
        ['POST', `/api/lists/${list.id}/todos/delete`, { ids: [milk.id] }],
      ] as const) {
        const answer = await as(carol, path, { method, ...(body === undefined ? {} : { json: body }) });
        assert.equal(answer.status, 403, `${method} ${path}: ${await answer.text()}`);
      }
      assert.deepEqual(await state(), { Milk: false, Eggs: false, Bread: false });

      // The editor: toggle all, then reopen one, clear the completed, delete the selected.
      assert.deepEqual(
        await json(await as(bob, `/api/lists/${list.id}/todos`, { method: 'PATCH', json: { completed: true } }), 200),
        { count: 3 },
      );
      assert.equal((await inboxTodo()).completed, false, 'only this list’s todos');
      await json(await as(bob, `/api/todos/${milk.id}`, { method: 'PATCH', json: { completed: false } }), 200);
      assert.equal((await as(bob, `/api/lists/${list.id}/todos?completed=true`, { method: 'DELETE' })).status, 204);
      assert.deepEqual(await state(), { Milk: false });
      const deleted = await json(
        await as(bob, `/api/lists/${list.id}/todos/delete`, {
          method: 'POST',
          json: { ids: [milk.id, eggs.id, bread.id, elsewhere.id] },
        }),
        200,
      );
      assert.deepEqual(deleted, { count: 1 }, 'ids outside the list are ignored');
      assert.deepEqual(await state(), {});
      assert.equal((await inboxTodo()).title, 'In the Inbox');
      // Bad input names the field and changes nothing.
      const bad = await json<{ details: { field: string }[] }>(
        await as(bob, `/api/lists/${list.id}/todos`, { method: 'PATCH', json: { completed: 'yes' } }),
        400,
      );
      assert.equal(bad.details[0]?.field, 'completed');
    });

    it('revokes a member, lets a member leave, and names a missing account', async () => {
      const list = await newList(t.alice, 'Club');
      await json(
        await t.request(`/api/lists/${list.id}/members/bob`, { method: 'PUT', json: { role: 'viewer' } }),
        200,
      );
      await json(
        await t.request(`/api/lists/${list.id}/members/carol`, { method: 'PUT', json: { role: 'viewer' } }),
        200,
      );
      assert.equal((await as(bob, `/api/lists/${list.id}/members/carol`, { method: 'DELETE' })).status, 403);
      assert.equal((await as(bob, `/api/lists/${list.id}/members/bob`, { method: 'DELETE' })).status, 204);
      assert.equal((await as(bob, `/api/lists/${list.id}`)).status, 404);
      assert.equal((await t.request(`/api/lists/${list.id}/members/carol`, { method: 'DELETE' })).status, 204);
      assert.equal((await as(carol, `/api/lists/${list.id}/todos`)).status, 404);
      assert.equal((await t.request(`/api/lists/${list.id}/members/carol`, { method: 'DELETE' })).status, 404);
      for (const username of ['nobody', 'alice']) {
        const refused = await json<{ details: { field: string }[] }>(
          await t.request(`/api/lists/${list.id}/members/${username}`, { method: 'PUT', json: { role: 'viewer' } }),
          400,
        );
        assert.equal(refused.details[0]?.field, 'username');
      }
      const role = await json<{ details: { field: string }[] }>(
        await t.request(`/api/lists/${list.id}/members/bob`, { method: 'PUT', json: { role: 'admin' } }),
        400,
      );
      assert.equal(role.details[0]?.field, 'role');
      assert.deepEqual(await json(await t.request(`/api/lists/${list.id}/members`), 200), []);
    });

    it('describes the lists routes in the OpenAPI document', async () => {
      const document = (await (await t.request('/api/openapi.json')).json()) as { paths: Record<string, object> };
      for (const path of [
        '/api/lists',
        '/api/lists/{listId}',
        '/api/lists/{listId}/todos',
        '/api/lists/{listId}/todos/delete',
        '/api/lists/{listId}/members',
        '/api/lists/{listId}/members/{username}',
      ])
        assert.ok(document.paths[path], path);
      assert.deepEqual(Object.keys(document.paths['/api/lists/{listId}/todos'] ?? {}).sort(), [
        'delete',
        'get',
        'patch',
        'post',
      ]);
    });
  });
}
