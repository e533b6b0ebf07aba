// GET /api/events on both engines: every change to a list reaches the open
// streams of everyone who can see it, and no one else, once and in order; a
// stream that comes back with Last-Event-ID gets what it missed, from the
// change log, written in the same transaction as the change.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ListJson } from '../../src/features/lists/schemas.ts';
import { ENGINES, startTestApp, type TestApp, type TestUser, type TodoJson } from '../support/app.ts';
import { EventStreamClient, type ServerEvent } from '../support/sse.ts';

type TodoEvent = { listId: number; activeCount: number; todo: TodoJson };
type Removed = { listId: number; activeCount: number; id: number; uid: string };

for (const engine of ENGINES) {
  describe(`live events on ${engine}`, () => {
    let t: TestApp;
    let bob: TestUser;
    let carol: TestUser;
    let dave: TestUser;
    const streams: EventStreamClient[] = [];
    before(async () => {
      t = await startTestApp(engine);
      bob = await t.createUser('bob');
      carol = await t.createUser('carol');
      dave = await t.createUser('dave');
    });
    after(async () => {
      for (const stream of streams) stream.close();
      await t.close();
    });

    const as = (user: TestUser, path: string, init: RequestInit & { json?: unknown } = {}) =>
      t.request(path, { ...init, headers: { authorization: `Bearer ${user.token}`, ...init.headers } });
    const ok = async <T>(response: Promise<Response>, status: number): Promise<T> => {
      const answer = await response;
      const text = await answer.text();
      assert.equal(answer.status, status, text);
      return (text === '' ? undefined : JSON.parse(text)) as T;
    };
    const listen = async (user: TestUser, lastEventId?: string) => {
      const headers: Record<string, string> = { authorization: `Bearer ${user.token}` };
      if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
      const stream = await EventStreamClient.open(`${t.baseUrl}/api/events`, headers);
      streams.push(stream);
      assert.equal(stream.status, 200);
      await stream.waitFor((event) => event.event === 'ready', { what: 'ready' });
      return stream;
    };
    const sharedList = async (name: string) => {
      const list = await ok<ListJson>(t.request('/api/lists', { method: 'POST', json: { name } }), 201);
      await ok(t.request(`/api/lists/${list.id}/members/bob`, { method: 'PUT', json: { role: 'editor' } }), 200);
      await ok(t.request(`/api/lists/${list.id}/members/carol`, { method: 'PUT', json: { role: 'viewer' } }), 200);
      return list;
    };
    const about = (event: ServerEvent) => event.data as TodoEvent & Removed;

    it('brings an editor’s add, edit, completion and delete to the owner’s and a viewer’s streams within 1 s, and none to a stranger', async () => {
      const list = await sharedList('Household');
      const [aliceStream, carolStream, daveStream] = await Promise.all([listen(t.alice), listen(carol), listen(dave)]);
      const from = [aliceStream.events.length, carolStream.events.length];
      const seen = async (match: (event: ServerEvent) => boolean, what: string) => {
        for (const [index, stream] of [aliceStream, carolStream].entries())
          await stream.waitFor(match, { from: from[index], what: `${what} on stream ${index}` });
      };

      const added = await ok<TodoJson>(
        as(bob, `/api/lists/${list.id}/todos`, { method: 'POST', json: { title: 'Milk' } }),
        201,
      );
      await seen((e) => e.event === 'todo' && about(e).todo.id === added.id && about(e).activeCount === 1, 'added');
      await ok(as(bob, `/api/todos/${added.id}`, { method: 'PATCH', json: { title: 'Oat milk' } }), 200);
      await seen((e) => e.event === 'todo' && about(e).todo.title === 'Oat milk', 'edited');
      await ok(as(bob, `/api/todos/${added.id}`, { method: 'PATCH', json: { completed: true } }), 200);
      await seen((e) => e.event === 'todo' && about(e).todo.completed && about(e).activeCount === 0, 'completed');
      await ok(as(bob, `/api/todos/${added.id}`, { method: 'DELETE' }), 204);
      await seen(
        (e) => e.event === 'todo-removed' && about(e).id === added.id && about(e).uid === added.uid,
        'deleted',
      );

      const shown = aliceStream.events.slice(from[0]).filter((e) => e.event.startsWith('todo'));
      assert.deepEqual(
        shown.map((e) => [e.event, about(e).todo?.title ?? null]),
        [
          ['todo', 'Milk'],
          ['todo', 'Oat milk'],
          ['todo', 'Oat milk'],
          ['todo-removed', null],
        ],
        'each change once, in order',
      );
      assert.deepEqual(
        shown.map((e) => e.id),
        [...new Set(shown.map((e) => e.id))],
        'distinct ids',
      );
      // Dave sees his own change, and nothing of the list before it.
      const own = await ok<TodoJson>(as(dave, '/api/todos', { method: 'POST', json: { title: 'Dave’s' } }), 201);
      await daveStream.waitFor((e) => e.event === 'todo' && about(e).todo.id === own.id, { what: 'his own' });
      assert.ok(
        daveStream.events.every((e) => !e.event.startsWith('todo') || about(e).listId === dave.inboxId),
        JSON.stringify(daveStream.events),
      );
    });

    it('gives a stream that comes back with Last-Event-ID every change it missed, once, in order', async () => {
      const list = await sharedList('Groceries');
      const first = await listen(bob);
      const lastSeen = first.lastEventId;
      first.close();
      const titles = ['one', 'two', 'three'];
      const ids: number[] = [];
      for (const title of titles)
        ids.push(
          (await ok<TodoJson>(t.request(`/api/lists/${list.id}/todos`, { method: 'POST', json: { title } }), 201)).id,
        );
      await ok(t.request(`/api/todos/${ids[1]}`, { method: 'DELETE' }), 204);
      const again = await listen(bob, lastSeen);
      const missed = again.events.filter((e) => e.event.startsWith('todo'));
      assert.deepEqual(
        missed.map((e) => (e.event === 'todo' ? about(e).todo.title : `removed ${about(e).id}`)),
        // "two" was deleted before the stream came back: its add shows nothing (it is gone), its removal shows.
        ['one', 'three', `removed ${ids[1]}`],
      );
      // Then live, with nothing twice.
      await ok(t.request(`/api/lists/${list.id}/todos`, { method: 'POST', json: { title: 'four' } }), 201);
      await again.waitFor((e) => e.event === 'todo' && about(e).todo.title === 'four', { what: 'four' });
      // (`ready` repeats the position it caught up to.)
      const all = again.events.filter((e) => e.event !== 'ready').map((e) => e.id);
      assert.equal(new Set(all).size, all.length);
    });

    it('tells a member whose access ends that the list went, and sends them nothing of it after', async () => {
      const list = await sharedList('Club');
      const bobStream = await listen(bob);
      const from = bobStream.events.length;
      await ok(t.request(`/api/lists/${list.id}/members/bob`, { method: 'DELETE' }), 204);
      const removed = await bobStream.waitFor(
        (e) => e.event === 'list-removed' && (e.data as { listId: number }).listId === list.id,
        { from, what: 'list-removed' },
      );
      // The list's earlier 'list' events (its sharing, read by the feed just after the stream opened) may come after `from`.
      const afterRemoval = bobStream.events.indexOf(removed) + 1;
      await ok(t.request(`/api/lists/${list.id}/todos`, { method: 'POST', json: { title: 'not for bob' } }), 201);
      // Shared again: the list comes back, with its role.
      await ok(t.request(`/api/lists/${list.id}/members/bob`, { method: 'PUT', json: { role: 'viewer' } }), 200);
      const back = await bobStream.waitFor((e) => e.event === 'list', { from: afterRemoval, what: 'list' });
      assert.deepEqual(
        [(back.data as { list: ListJson }).list.id, (back.data as { list: ListJson }).list.role],
        [list.id, 'viewer'],
      );
      assert.ok(!bobStream.events.some((e) => e.event === 'todo' && about(e).todo.title === 'not for bob'));
    });

    it('logs a change with its transaction: a rolled-back one leaves nothing, a committed one its rows', async () => {
      const count = async () =>
        Number((await t.db.query<{ n: string }>('SELECT count(*)::text AS n FROM list_changes'))[0]?.n);
      const before = await count();
      await assert.rejects(
        t.db.transaction(async (tx) => {
          await tx.query('INSERT INTO todos (list_id, owner_id, title) VALUES ($1, $2, $3)', [
            t.alice.inboxId,
            t.alice.id,
            'rolled back',
          ]);
          throw new Error('no');
        }),
      );
      assert.equal(await count(), before);
      await t.db.query(`UPDATE todos SET completed = true WHERE list_id = $1`, [t.alice.inboxId]);
      const [row] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM todos WHERE list_id = $1`, [
        t.alice.inboxId,
      ]);
      assert.equal(await count(), before + (row?.n ?? 0), 'one change per todo a statement touched');
    });

    it('answers a Last-Event-ID it cannot replay (unknown, or pruned past) with resync', async () => {
      const stream = await listen(bob);
      const old = stream.lastEventId;
      stream.close();
      for (const lastEventId of ['garbage', '1-2-3']) {
        const resynced = await listen(bob, lastEventId);
        assert.equal(resynced.events[0]?.event, 'resync', lastEventId);
      }
      await ok(as(bob, '/api/todos', { method: 'POST', json: { title: 'to be pruned' } }), 201);
      await t.db.query("UPDATE list_changes SET changed_at = now() - interval '400 days'");
      assert.ok((await t.app.changeFeed.prune()) > 0);
      const pruned = await listen(bob, old);
      assert.equal(pruned.events[0]?.event, 'resync');
    });

    it('drops a stream whose client stops reading, instead of keeping what it does not read', async () => {
      const figures = t.app.changeFeed.figures;
      const dropped = figures.dropped;
      const socket = net.connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(
        `GET /api/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${t.alice.token}\r\nAccept: text/event-stream\r\n\r\n`,
      );
      socket.pause(); // reads nothing more
      after(() => socket.destroy());
      await new Promise((resolve) => setTimeout(resolve, 100));
      const streamsBefore = figures.streams;
      const notes = 'x'.repeat(60_000);
      for (let index = 0; index < 400 && figures.dropped === dropped; index++)
        await ok(t.request('/api/todos', { method: 'POST', json: { title: `big ${index}`, notes } }), 201);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(figures.dropped, dropped + 1, 'the stream that did not read was dropped');
      assert.ok(figures.streams < streamsBefore || figures.streams === 0);
      socket.destroy();
    });
  });
}
