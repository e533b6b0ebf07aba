// GET /api/todos reuses the body built for the same rows and versions: the
// answer is byte for byte what a fresh build gives, never another person's
// list, never stale after a change by any path (SQL behind the app's back
// included), with ETag/If-None-Match, and compressed as the plugin would.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import compress from '@fastify/compress';
import Fastify from 'fastify';
import { compression } from '../../src/plugins/compression.ts';
import { toJson } from '../../src/features/todos/schemas.ts';
import { ListBodyCache, chooseEncoding, listKey, matchesIfNoneMatch } from '../../src/features/todos/list-cache.ts';
import { todosRepository, versionsOf, type ListOptions } from '../../src/features/todos/repository.ts';
import { overdueIds } from '../../src/views/todo-pages.ts';
import { createAppCaches, type AppCaches } from '../../src/plugins/caches.ts';
import { cacheFigures } from '../support/caches.ts';
import { ENGINES, startTestApp, type TestApp, type TestUser, type TodoJson } from '../support/app.ts';
import { rawRequestBytes } from '../support/http.ts';

async function lookups(): Promise<{ hit: number; miss: number }> {
  const figures = await cacheFigures('list_bodies');
  return { hit: figures.hits, miss: figures.misses };
}

for (const engine of ENGINES) {
  describe(`the todo list cache on ${engine}`, () => {
    let t: TestApp;
    let bob: TestUser;
    before(async () => {
      t = await startTestApp(engine);
      bob = await t.createUser('bob');
    });
    after(() => t.close());

    const get = (path: string, user: TestUser, headers: Record<string, string> = {}, method = 'GET') =>
      rawRequestBytes(t.baseUrl, { path, method, headers: { authorization: `Bearer ${user.token}`, ...headers } });

    /** What the list was before the cache: every row read and rendered afresh. */
    async function freshBody(
      user: TestUser,
      options: Parameters<typeof todosRepository.listIn>[2] = {},
    ): Promise<string> {
      const todos = await todosRepository.listIn(t.db, { userId: user.id, listId: user.inboxId }, options);
      return JSON.stringify(todos.map((todo) => toJson(todo, t.baseUrl)));
    }

    async function create(user: TestUser, title: string, extra: Record<string, unknown> = {}): Promise<TodoJson> {
      const response = await t.request('/api/todos', {
        method: 'POST',
        json: { title, notes: 'some notes to make the list longer than a kilobyte', ...extra },
        headers: { authorization: `Bearer ${user.token}` },
      });
      assert.equal(response.status, 201, await response.clone().text());
      return (await response.json()) as TodoJson;
    }

    beforeEach(async () => {
      await t.db.query('DELETE FROM todos');
      for (let index = 0; index < 12; index++) await create(t.alice, `alice's todo ${index}`);
      for (let index = 0; index < 3; index++) await create(bob, `bob's todo ${index}`);
    });

    it('describes a list in the database exactly as versionsOf and overdueIds describe its rows (else nothing kept would ever be found)', async () => {
      await create(t.alice, 'late', { dueDate: '2001-01-01' });
      await create(t.alice, 'late but done', { dueDate: '2001-01-02', completed: true });
      await create(t.alice, 'not yet', { dueDate: '2999-01-01', completed: true });
      const scope = { userId: t.alice.id, listId: t.alice.inboxId };
      const today = await todosRepository.today(t.db);
      const cases: ListOptions[] = [
        {},
        { sort: 'due' },
        { sort: 'order' },
        { completed: true },
        { completed: false, text: 'late' },
        { limit: 5 },
        { text: 'nothing like it' },
      ];
      for (const options of cases) {
        const list = await todosRepository.listVersionsIn(t.db, scope, options);
        const todos = await todosRepository.listIn(t.db, scope, options);
        const expected = {
          versions: versionsOf(todos),
          overdue: overdueIds(todos, today),
          count: todos.length,
          completed: todos.filter((todo) => todo.completed).length,
        };
        assert.deepEqual({ ...list }, expected, JSON.stringify(options));
      }
      assert.notEqual(
        (await todosRepository.listVersionsIn(t.db, scope)).overdue,
        '',
        'an overdue todo is there to be found',
      );
    });

    it('answers the same bytes from the cache as a fresh build, counting a miss then a hit', async () => {
      const before = await lookups();
      const first = await get('/api/todos', t.alice);
      const second = await get('/api/todos', t.alice);
      const after = await lookups();
      assert.equal(first.status, 200);
      assert.equal(first.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(first.body.toString('utf8'), await freshBody(t.alice));
      assert.ok(second.body.equals(first.body), 'the cached body is the built one');
      assert.equal(Number(second.headers['content-length']), second.body.length);
      assert.equal(second.headers['etag'], first.headers['etag']);
      assert.match(String(first.headers['etag']), /^W\/"[\w-]+"$/);
      assert.equal(
        first.headers['cache-control'],
        'private, no-cache',
        'never in a shared cache; revalidated each time',
      );
      assert.deepEqual({ hit: after.hit - before.hit, miss: after.miss - before.miss }, { hit: 1, miss: 1 });
    });

    it("never shows one person another's list", async () => {
      const alices = await get('/api/todos', t.alice);
      await get('/api/todos', t.alice); // cached now
      const bobs = await get('/api/todos', bob);
      assert.equal(bobs.body.toString('utf8'), await freshBody(bob));
      assert.notEqual(bobs.headers['etag'], alices.headers['etag']);
      const titles = (JSON.parse(bobs.body.toString('utf8')) as TodoJson[]).map((todo) => todo.title);
      assert.deepEqual(titles.sort(), ["bob's todo 0", "bob's todo 1", "bob's todo 2"]);
      // Alice's tag is not Bob's list: he gets his own, not a 304.
      const withAlicesTag = await get('/api/todos', bob, { 'if-none-match': String(alices.headers['etag']) });
      assert.equal(withAlicesTag.status, 200);
      assert.ok(withAlicesTag.body.equals(bobs.body));
      // Two empty lists are the same bytes (`[]`) for everyone, which is all they share.
      await t.db.query('DELETE FROM todos');
      assert.equal((await get('/api/todos', t.alice)).body.toString('utf8'), '[]');
      assert.equal((await get('/api/todos', bob)).body.toString('utf8'), '[]');
    });

    it('is never stale after a change made in the database behind the app', async () => {
      const before = await get('/api/todos', t.alice);
      const [first] = JSON.parse(before.body.toString('utf8')) as TodoJson[];
      assert.ok(first);
      await t.db.query('UPDATE todos SET title = $2 WHERE id = $1', [first.id, 'changed by SQL']);
      const after = await get('/api/todos', t.alice);
      assert.equal(after.body.toString('utf8'), await freshBody(t.alice));
      assert.equal((JSON.parse(after.body.toString('utf8')) as TodoJson[])[0]?.title, 'changed by SQL');
      assert.notEqual(after.headers['etag'], before.headers['etag']);
      assert.equal((await get('/api/todos', t.alice, { 'if-none-match': String(before.headers['etag']) })).status, 200);

      // Moving a todo to another owner behind the app's back moves it between the lists too.
      await get('/api/todos', bob);
      await t.db.query('UPDATE todos SET owner_id = $2 WHERE id = $1', [first.id, bob.id]);
      assert.equal((await get('/api/todos', bob)).body.toString('utf8'), await freshBody(bob));
      assert.equal((await get('/api/todos', t.alice)).body.toString('utf8'), await freshBody(t.alice));
      assert.ok(!(await freshBody(t.alice)).includes('changed by SQL'));
    });

    it('is never stale after changes through the API: one todo, bulk, delete, create', async () => {
      const list = async () => {
        await get('/api/todos', t.alice); // a miss or a hit, then surely cached
        const response = await get('/api/todos', t.alice);
        assert.equal(response.body.toString('utf8'), await freshBody(t.alice));
        return JSON.parse(response.body.toString('utf8')) as TodoJson[];
      };
      const [first, second] = await list();
      assert.ok(first && second);
      assert.equal(
        (await t.request(`/api/todos/${first.id}`, { method: 'PATCH', json: { completed: true } })).status,
        200,
      );
      assert.equal((await list())[0]?.completed, true);
      assert.equal((await t.request('/api/todos', { method: 'PATCH', json: { completed: true } })).status, 200);
      assert.ok((await list()).every((todo) => todo.completed));
      assert.equal((await t.request(`/api/todos/${second.id}`, { method: 'DELETE' })).status, 204);
      assert.ok(!(await list()).some((todo) => todo.id === second.id));
      const created = await create(t.alice, 'a new one');
      assert.equal((await list())[0]?.id, created.id);
      assert.equal((await t.request('/api/todos?completed=true', { method: 'DELETE' })).status, 204);
      assert.deepEqual(
        (await list()).map((todo) => todo.id),
        [created.id],
      );
    });

    it('answers If-None-Match with 304 by weak comparison, for *, and in a list of tags', async () => {
      const response = await get('/api/todos', t.alice);
      const etag = String(response.headers['etag']);
      const opaque = etag.slice(2);
      for (const header of [etag, opaque, `"nope", ${etag}`, `W/"nope",${opaque}`, '*']) {
        const conditional = await get('/api/todos', t.alice, { 'if-none-match': header, 'accept-encoding': 'br' });
        assert.equal(conditional.status, 304, header);
        assert.equal(conditional.body.length, 0, header);
        assert.equal(conditional.headers['etag'], etag, header);
        assert.equal(conditional.headers['content-encoding'], undefined, header);
      }
      assert.equal((await get('/api/todos', t.alice, { 'if-none-match': '"nope"' })).status, 200);
      // A filter that lists other rows is another list, another tag.
      const active = await get('/api/todos?completed=true', t.alice, { 'if-none-match': etag });
      assert.equal(active.status, 200);
      assert.equal(active.body.toString('utf8'), '[]');
    });

    it('compresses as @fastify/compress would, once per list, and HEAD tells the same length', async () => {
      const plain = await get('/api/todos', t.alice);
      assert.ok(plain.body.length > compression.threshold, `${plain.body.length} bytes`);
      assert.equal(plain.headers['vary'], 'accept-encoding');
      assert.equal(plain.headers['content-encoding'], undefined);
      const expected = {
        br: brotliCompressSync(plain.body, compression.brotliOptions),
        gzip: gzipSync(plain.body, compression.zlibOptions),
      };
      for (const [acceptEncoding, encoding] of [
        ['gzip, deflate, br, zstd', 'br'],
        ['GZIP', 'gzip'],
        ['br;q=0, gzip', 'gzip'],
        ['gzip;q=0.5, br;q=0.8', 'br'],
        ['gzip;q=1, br;q=0.5', 'gzip'],
        ['*', 'gzip'],
        ['x-gzip', 'gzip'],
        ['identity', undefined],
        ['deflate', undefined],
        ['br;q=0, gzip;q=0', undefined],
      ] as const) {
        for (let round = 0; round < 2; round++) {
          const label = `Accept-Encoding: ${acceptEncoding}, round ${round}`;
          const response = await get('/api/todos', t.alice, { 'accept-encoding': acceptEncoding });
          assert.equal(response.status, 200, label);
          assert.equal(response.headers['content-encoding'], encoding, label);
          assert.equal(response.headers['vary'], 'accept-encoding', label);
          assert.equal(response.headers['etag'], plain.headers['etag'], label);
          assert.equal(Number(response.headers['content-length']), response.body.length, label);
          assert.ok(
            response.body.equals(encoding ? expected[encoding] : plain.body),
            `${label}: the plugin's very bytes`,
          );
          const decoded =
            encoding === 'br'
              ? brotliDecompressSync(response.body)
              : encoding === 'gzip'
                ? gunzipSync(response.body)
                : response.body;
          assert.ok(decoded.equals(plain.body), label);

          const head = await get('/api/todos', t.alice, { 'accept-encoding': acceptEncoding }, 'HEAD');
          assert.equal(head.status, 200, `HEAD ${label}`);
          assert.equal(head.body.length, 0, `HEAD ${label}`);
          assert.equal(head.headers['content-encoding'], encoding, `HEAD ${label}`);
          assert.equal(Number(head.headers['content-length']), response.body.length, `HEAD ${label}`);
          assert.equal(head.headers['etag'], plain.headers['etag'], `HEAD ${label}`);
        }
      }
      const conditionalHead = await get(
        '/api/todos',
        t.alice,
        { 'if-none-match': String(plain.headers['etag']) },
        'HEAD',
      );
      assert.equal(conditionalHead.status, 304);
    });

    it('leaves a list under 1 KB uncompressed, as the plugin did', async () => {
      const small = await get('/api/todos', bob, { 'accept-encoding': 'br, gzip' });
      assert.equal(small.status, 200);
      assert.ok(small.body.length < compression.threshold);
      assert.equal(small.headers['content-encoding'], undefined);
      assert.equal(small.headers['vary'], undefined);
      assert.equal(small.body.toString('utf8'), await freshBody(bob));
    });

    it('pages with the same Link header from the cache, and refuses bad cursors', async () => {
      const pages: string[] = [];
      let path: string | undefined = '/api/todos?limit=5';
      const links: string[] = [];
      while (path) {
        const first = await get(path, t.alice);
        const second = await get(path, t.alice);
        assert.equal(second.headers['link'], first.headers['link'], path);
        assert.ok(second.body.equals(first.body), path);
        pages.push(...(JSON.parse(first.body.toString('utf8')) as TodoJson[]).map((todo) => JSON.stringify(todo)));
        const link = first.headers['link'];
        links.push(String(link));
        path = link ? /^<([^>]+)>/.exec(String(link))?.[1]?.slice(t.baseUrl.length) : undefined;
      }
      assert.equal(links.length, 3, links.join('\n'));
      assert.match(links[0] ?? '', new RegExp(`^<${t.baseUrl}/api/todos\\?limit=5&cursor=[\\w-]+>; rel="next"$`));
      assert.deepEqual(
        pages,
        (JSON.parse(await freshBody(t.alice)) as TodoJson[]).map((todo) => JSON.stringify(todo)),
      );
      assert.equal((await get('/api/todos?cursor=nonsense', t.alice)).status, 400);
      assert.equal(
        (await get('/api/todos?limit=5&sort=due&cursor=' + /cursor=([\w-]+)/.exec(links[0] ?? '')?.[1], t.alice))
          .status,
        400,
      );
    });
  });
}

describe('ListBodyCache', () => {
  const rows = (count: number, version = '1') =>
    versionsOf(Array.from({ length: count }, (_, index) => ({ id: index + 1, version })));

  it('keys a list by its base URL and every id and version, in order', () => {
    const key = listKey('http://a', rows(3));
    assert.notEqual(listKey('http://b', rows(3)), key);
    assert.notEqual(listKey('http://a', rows(3, '2')), key);
    assert.notEqual(listKey('http://a', versionsOf([3, 2, 1].map((id) => ({ id, version: '1' })))), key);
    assert.notEqual(listKey('http://a', rows(2)), key);
    assert.notEqual(
      listKey('http://a', versionsOf([{ id: 1, version: '12' }])),
      listKey('http://a', versionsOf([{ id: 11, version: '2' }])),
    );
  });

  /** A ListBodyCache on caches of its own, bounded to `maxBytes` (an eighth of it per body). */
  const bounded = (maxBytes: number): { cache: ListBodyCache; caches: AppCaches } => {
    const caches = createAppCaches({ list_bodies: { maxBytes, maxEntryBytes: maxBytes / 8 } });
    return { cache: new ListBodyCache(caches.listBodies), caches };
  };

  it('drops the least recently used lists past its byte bound, and keeps no body over its per-entry limit', () => {
    const { cache, caches } = bounded(64 * 1024);
    try {
      const body = JSON.stringify('x'.repeat(4000));
      for (let index = 0; index < 40; index++) cache.set(`key ${index}`, body, 1, undefined);
      assert.ok(caches.listBodies.bytes <= 64 * 1024, `${caches.listBodies.bytes} bytes`);
      assert.ok(caches.listBodies.size < 40 && caches.listBodies.size > 5, `${caches.listBodies.size} entries`);
      // Compressed forms count too.
      const list = cache.get('key 39');
      assert.ok(list);
      const before = caches.listBodies.bytes;
      cache.encoded(list, 'gzip');
      assert.ok(caches.listBodies.bytes > before, 'the compressed form is counted');
      assert.ok(caches.listBodies.bytes <= 64 * 1024);
      // A body too large to keep among others is answered but not kept.
      const huge = cache.set('huge', JSON.stringify('y'.repeat(20_000)), 1, undefined);
      assert.equal(huge.json.length, 20_002);
      assert.equal(cache.get('huge'), undefined);
      assert.equal(caches.listBodies.stats.notKept, 1);
    } finally {
      caches.close();
    }
  });

  it('is least recently used, not oldest inserted: a list read recently survives', () => {
    const { cache, caches } = bounded(64 * 1024);
    try {
      const body = JSON.stringify('x'.repeat(4000));
      cache.set('first', body, 1, undefined);
      for (let index = 0; index < 40; index++) {
        assert.ok(cache.get('first'), `still kept after ${index} others`); // read again before each newer one
        cache.set(`key ${index}`, body, 1, undefined);
      }
      assert.ok(cache.get('first'), 'the oldest, read recently, is kept');
      assert.equal(cache.get('key 0'), undefined, 'an old one nobody read again is gone');
    } finally {
      caches.close();
    }
  });

  it("chooses the encoding and makes the bytes @fastify/compress does, with the app's settings", async () => {
    const plugin = Fastify();
    await plugin.register(compress, { ...compression, globalDecompression: false });
    const json = JSON.stringify(Array.from({ length: 40 }, (_, index) => ({ id: index, title: `todo ${index}` })));
    plugin.get('/', async (_request, reply) => reply.type('application/json; charset=utf-8').send(json));
    const caches = createAppCaches();
    const cache = new ListBodyCache(caches.listBodies);
    const list = cache.set('key', json, 40, undefined);
    try {
      for (const header of [
        'br',
        'gzip',
        'GZip, BR',
        'br;q=0',
        'gzip;q=0, br;q=0.1',
        '*',
        '*;q=0',
        'x-gzip',
        'deflate',
        '',
        'identity',
        'br;q=0.5, *',
        'compress, gzip;q=0.2',
        undefined,
      ]) {
        const response = await plugin.inject({
          url: '/',
          headers: header === undefined ? {} : { 'accept-encoding': header },
        });
        const encoding = response.headers['content-encoding'];
        assert.equal(chooseEncoding(header), encoding, String(header));
        if (encoding === 'br' || encoding === 'gzip')
          assert.ok(cache.encoded(list, encoding).equals(response.rawPayload), String(header));
      }
    } finally {
      caches.close();
      await plugin.close();
    }
  });

  it('compares If-None-Match weakly', () => {
    assert.ok(matchesIfNoneMatch('W/"abc"', 'W/"abc"'));
    assert.ok(matchesIfNoneMatch('"abc"', 'W/"abc"'));
    assert.ok(matchesIfNoneMatch(' * ', 'W/"abc"'));
    assert.ok(matchesIfNoneMatch('"x", W/"abc"', 'W/"abc"'));
    assert.ok(!matchesIfNoneMatch('"abcd"', 'W/"abc"'));
    assert.ok(!matchesIfNoneMatch('abc', 'W/"abc"'));
    assert.ok(!matchesIfNoneMatch(undefined, 'W/"abc"'));
  });
});
