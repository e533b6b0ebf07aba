// Idempotent writes on both engines: a repeated Idempotency-Key (header for the
// API, `_idempotency` field for page forms) answers the first response again
// and changes nothing twice; misuse gets a clear 4xx and changes nothing.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { idempotencyRepository, RECORD_BOUNDS } from '../../src/features/idempotency/repository.ts';
import { ENGINES, startTestApp, type TestApp, type TodoJson } from '../support/app.ts';

for (const engine of ENGINES) {
  describe(`idempotent writes on ${engine}`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(engine);
    });
    after(() => t.close());
    beforeEach(async () => {
      assert.equal((await t.request('/api/todos', { method: 'DELETE' })).status, 204);
    });

    const withKey = (key: string, init: RequestInit & { json?: unknown } = {}) => ({
      ...init,
      headers: { 'idempotency-key': key },
    });
    async function titles(): Promise<string[]> {
      const todos = (await (await t.request('/api/todos')).json()) as TodoJson[];
      return todos.map((todo) => todo.title).sort();
    }

    it('answers a repeated POST with the first response and creates one todo', async () => {
      const key = randomUUID();
      const first = await t.request('/api/todos', withKey(key, { method: 'POST', json: { title: 'once' } }));
      assert.equal(first.status, 201);
      assert.equal(first.headers.get('idempotent-replayed'), null);
      const again = await t.request('/api/todos', withKey(key, { method: 'POST', json: { title: 'once' } }));
      assert.equal(again.status, 201);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.equal(again.headers.get('location'), first.headers.get('location'));
      assert.match(again.headers.get('content-type') ?? '', /^application\/json/);
      assert.deepEqual(await again.json(), await first.json());
      assert.deepEqual(await titles(), ['once']);
    });

    it('lets concurrent repeats of one key make one change, all answering the same', async () => {
      const key = randomUUID();
      const responses = await Promise.all(
        Array.from({ length: 6 }, () =>
          t.request('/api/todos', withKey(key, { method: 'POST', json: { title: 'raced' } })),
        ),
      );
      const bodies = await Promise.all(responses.map((response) => response.json() as Promise<TodoJson>));
      assert.deepEqual(
        responses.map((response) => response.status),
        Array(6).fill(201),
      );
      assert.equal(new Set(bodies.map((body) => body.id)).size, 1);
      assert.deepEqual(await titles(), ['raced']);
    });

    it('replays a DELETE as 204 instead of 404, and a PATCH with its first result without applying it again', async () => {
      const todo = (await (
        await t.request('/api/todos', { method: 'POST', json: { title: 'patch me' } })
      ).json()) as TodoJson;
      const patchKey = randomUUID();
      const patched = await t.request(
        `/api/todos/${todo.id}`,
        withKey(patchKey, { method: 'PATCH', json: { completed: true } }),
      );
      assert.equal(patched.status, 200);
      await t.request(`/api/todos/${todo.id}`, { method: 'PATCH', json: { completed: false } });
      const replay = await t.request(
        `/api/todos/${todo.id}`,
        withKey(patchKey, { method: 'PATCH', json: { completed: true } }),
      );
      assert.equal(replay.status, 200);
      assert.equal(((await replay.json()) as TodoJson).completed, true, 'the first response');
      const now = (await (await t.request(`/api/todos/${todo.id}`)).json()) as TodoJson;
      assert.equal(now.completed, false, 'not applied a second time');

      const deleteKey = randomUUID();
      assert.equal((await t.request(`/api/todos/${todo.id}`, withKey(deleteKey, { method: 'DELETE' }))).status, 204);
      const deletedAgain = await t.request(`/api/todos/${todo.id}`, withKey(deleteKey, { method: 'DELETE' }));
      assert.equal(deletedAgain.status, 204);
      assert.equal(deletedAgain.headers.get('idempotent-replayed'), 'true');
    });

    it('refuses a key reused for a different request with 422 naming the header, changing nothing', async () => {
      const key = randomUUID();
      await t.request('/api/todos', withKey(key, { method: 'POST', json: { title: 'first' } }));
      const reused = await t.request('/api/todos', withKey(key, { method: 'POST', json: { title: 'second' } }));
      assert.equal(reused.status, 422);
      const body = (await reused.json()) as { error: string; details: { field: string }[] };
      assert.equal(body.details[0]?.field, 'Idempotency-Key');
      assert.deepEqual(await titles(), ['first']);
    });

    it('refuses a malformed key with 400 naming the header, changing nothing', async () => {
      for (const key of ['x'.repeat(256), 'has space']) {
        const response = await t.request('/api/todos', withKey(key, { method: 'POST', json: { title: 'nope' } }));
        assert.equal(response.status, 400, key);
        const body = (await response.json()) as { details: { field: string }[] };
        assert.equal(body.details[0]?.field, 'Idempotency-Key');
      }
      assert.deepEqual(await titles(), []);
    });

    it('keeps keys per person: the same key from two people makes two todos', async () => {
      const bob = await t.createUser(`bob-${randomUUID().slice(0, 8)}`);
      const key = randomUUID();
      await t.request('/api/todos', withKey(key, { method: 'POST', json: { title: 'mine' } }));
      const bobs = await t.request('/api/todos', {
        method: 'POST',
        json: { title: 'mine' },
        headers: { 'idempotency-key': key, authorization: `Bearer ${bob.token}` },
      });
      assert.equal(bobs.status, 201);
      assert.equal(bobs.headers.get('idempotent-replayed'), null);
      assert.deepEqual(await titles(), ['mine']);
    });

    it('does not store failed requests: a 404 can be retried with the same key', async () => {
      const key = randomUUID();
      const missing = await t.request(
        '/api/todos/999999',
        withKey(key, { method: 'PATCH', json: { completed: true } }),
      );
      assert.equal(missing.status, 404);
      const created = await t.request('/api/todos', withKey(key, { method: 'POST', json: { title: 'after a 404' } }));
      assert.equal(created.status, 201);
    });

    it('gives all forms of a page one nonce: the same form posted twice changes once, two different forms both take effect', async () => {
      const browser = await t.browserFor(t.alice);
      const create = async (title: string) =>
        (await (await t.request('/api/todos', { method: 'POST', json: { title } })).json()) as TodoJson;
      const [kept, removed] = [await create('already there'), await create('to delete')];
      const page = await browser.page('/');
      const keys = [...page.matchAll(/name="_idempotency" value="([^"]+)"/g)].map((match) => match[1] ?? '');
      assert.ok(keys.length >= 4, 'every form that changes todos carries the key');
      assert.equal(new Set(keys).size, 1, 'one nonce per page');
      const [nonce = ''] = keys;
      const items = /<ul class="todos"[^>]*>([\s\S]*?)<\/ul>/.exec(page)?.[1] ?? '';
      assert.match(items, /data-id=/);
      assert.doesNotMatch(items, /_idempotency|_csrf|returnTo/, 'the todos carry nothing of the render');
      const nextPage = await browser.page('/');
      assert.notEqual(
        /name="_idempotency" value="([^"]+)"/.exec(nextPage)?.[1],
        nonce,
        'a fresh nonce for every render',
      );

      // The same form twice (a double click, a resent form): one todo.
      for (let i = 0; i < 2; i++) {
        const response = await browser.postForm('/todos', {
          title: 'from the form',
          _idempotency: nonce,
          returnTo: '/active',
        });
        assert.equal(response.status, 303);
        assert.equal(response.headers.get('location'), '/active');
      }
      assert.deepEqual(await titles(), ['already there', 'from the form', 'to delete']);

      // Other forms of the same page, with the same nonce: each takes effect, once.
      for (let i = 0; i < 2; i++) {
        assert.equal(
          (
            await browser.postForm(`/todos/${kept.id}/toggle`, {
              completed: 'true',
              _idempotency: nonce,
              returnTo: '/',
            })
          ).status,
          303,
        );
        assert.equal(
          (await browser.postForm(`/todos/${removed.id}/delete`, { _idempotency: nonce, returnTo: '/' })).status,
          303,
          'replayed, not 404',
        );
      }
      const todos = (await (await t.request('/api/todos')).json()) as TodoJson[];
      assert.deepEqual(todos.map((todo) => [todo.title, todo.completed]).sort(), [
        ['already there', true],
        ['from the form', false],
      ]);
      // Toggled back through the API, the same toggle form posted again stays a repeat: it changes nothing.
      await t.request(`/api/todos/${kept.id}`, { method: 'PATCH', json: { completed: false } });
      assert.equal(
        (await browser.postForm(`/todos/${kept.id}/toggle`, { completed: 'true', _idempotency: nonce, returnTo: '/' }))
          .status,
        303,
      );
      assert.equal(((await (await t.request(`/api/todos/${kept.id}`)).json()) as TodoJson).completed, false);
    });

    describe('each person’s records stay bounded', () => {
      const usage = async (ownerId: number) => {
        const [row] = await t.db.query<{ keys: number; bytes: number }>(
          `SELECT count(*)::int AS keys, coalesce(sum(octet_length(key) + coalesce(octet_length(headers), 0) + coalesce(octet_length(body), 0)), 0)::int AS bytes
           FROM idempotency_keys WHERE owner_id = $1`,
          [ownerId],
        );
        return row ?? { keys: 0, bytes: 0 };
      };
      /** `count` writes with keys of their own, `parallel` at a time. */
      const write = async (count: number, parallel: number, body: (i: number) => unknown, auth?: string) => {
        const keys: string[] = [];
        for (let start = 0; start < count; start += parallel) {
          await Promise.all(
            Array.from({ length: Math.min(parallel, count - start) }, async (_, j) => {
              const key = `bound-${randomUUID()}`;
              keys[start + j] = key;
              const headers: Record<string, string> = {
                'idempotency-key': key,
                ...(auth ? { authorization: `Bearer ${auth}` } : {}),
              };
              const response = await t.request('/api/todos', { method: 'POST', headers, json: body(start + j) });
              assert.equal(response.status, 201);
              await response.arrayBuffer();
            }),
          );
        }
        return keys;
      };
      // Between trims a person may pass the bounds by what the trim interval allows (plugins/idempotency.ts).
      const KEY_SLACK = 50;
      const BYTE_SLACK = 512 * 1024 + 80 * 1024;

      it('keeps at most the newest 1,000 keys of a person (also 50 at a time), the newest still replayed, others’ untouched', async () => {
        const bob = await t.createUser(`bob-${randomUUID().slice(0, 8)}`);
        const bobsKeys = await write(5, 1, (i) => ({ title: `bob ${i}` }), bob.token);
        const keys = await write(RECORD_BOUNDS.keys + 200, 50, (i) => ({ title: `todo ${i}` }));
        await new Promise((resolve) => setTimeout(resolve, 200)); // the trim runs after the answer
        const { keys: kept } = await usage(t.alice.id);
        assert.ok(kept <= RECORD_BOUNDS.keys + KEY_SLACK, `${kept} keys kept`);
        assert.ok(kept >= RECORD_BOUNDS.keys - 50, `${kept} keys kept: too many trimmed`);
        const last = keys.at(-1) as string;
        const again = await t.request(
          '/api/todos',
          withKey(last, { method: 'POST', json: { title: `todo ${keys.length - 1}` } }),
        );
        assert.equal(again.headers.get('idempotent-replayed'), 'true');
        const oldest = await t.db.query('SELECT 1 FROM idempotency_keys WHERE key = $1', [keys[0]]);
        assert.equal(oldest.length, 0, 'the oldest key was kept');
        assert.equal((await usage(bob.id)).keys, 5);
        assert.equal((await t.db.query('SELECT 1 FROM idempotency_keys WHERE key = ANY($1)', [bobsKeys])).length, 5);
      });

      it('keeps at most 5 MB of a person’s stored responses', async () => {
        const notes = 'n'.repeat(60_000);
        await write(120, 10, (i) => ({ title: `big ${i}`, notes })); // 120 × 60 KB = 7 MB of responses
        await new Promise((resolve) => setTimeout(resolve, 200));
        const { bytes } = await usage(t.alice.id);
        assert.ok(bytes <= RECORD_BOUNDS.bytes + BYTE_SLACK, `${bytes} bytes kept`);
        assert.ok(bytes >= RECORD_BOUNDS.bytes - BYTE_SLACK, `${bytes} bytes kept: too many trimmed`);
      });

      it('trims in one statement to exactly the bounds', async () => {
        await write(30, 10, (i) => ({ title: `few ${i}` }));
        await idempotencyRepository.trim(t.db, t.alice.id, { keys: 10, bytes: RECORD_BOUNDS.bytes });
        assert.equal((await usage(t.alice.id)).keys, 10);
        await idempotencyRepository.trim(t.db, t.alice.id, { keys: 10, bytes: 1 });
        assert.equal((await usage(t.alice.id)).keys, 0);
      });
    });

    it('forgets keys after a day', async () => {
      const key = randomUUID();
      await t.request('/api/todos', withKey(key, { method: 'POST', json: { title: 'old' } }));
      await t.db.query(`UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1`, [key]);
      assert.ok((await idempotencyRepository.deleteExpired(t.db)) >= 1);
      const rows = await t.db.query('SELECT 1 FROM idempotency_keys WHERE key = $1', [key]);
      assert.equal(rows.length, 0);
    });
  });
}
