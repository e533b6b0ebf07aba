// The app's in-memory caches (plugins/caches.ts), over real HTTP on both
// engines: bounded by bytes whatever the todos hold (the reviewer's 40 todos
// of 60,000 `&`), a value over its per-entry limit answered but not kept,
// never shared by two apps of one process, and counted in their metrics.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { changesRepository, formatPosition } from '../../src/features/events/repository.ts';
import { ByteCache, CACHE_BOUNDS, createAppCaches, type CacheName } from '../../src/plugins/caches.ts';
import { todosRepository } from '../../src/features/todos/repository.ts';
import { ENGINES, startTestApp, type TestApp } from '../support/app.ts';
import type { BrowserSession } from '../support/browser.ts';
import { rawRequestBytes } from '../support/http.ts';
import { cacheFigures, type CacheFigures } from '../support/caches.ts';

const NAMES = Object.keys(CACHE_BOUNDS) as CacheName[];

async function allFigures(): Promise<Record<CacheName, CacheFigures>> {
  const figures = {} as Record<CacheName, CacheFigures>;
  for (const name of NAMES) figures[name] = await cacheFigures(name);
  return figures;
}

const titlesOn = (page: string) => [...page.matchAll(/<span class="title">([^<]*)<\/span>/g)].map((match) => match[1]);

for (const engine of ENGINES) {
  describe(`the caches on ${engine}`, () => {
    let t: TestApp;
    let browser: BrowserSession;
    before(async () => {
      t = await startTestApp(engine);
      browser = await t.browserFor(t.alice);
    });
    after(() => t.close());

    it('stay within their byte bounds while 40 todos of 60,000 `&` are toggled under view, and keep none of those huge items', async () => {
      await t.db.query('DELETE FROM todos');
      const scope = { userId: t.alice.id, listId: t.alice.inboxId };
      const todos = [];
      for (let index = 0; index < 40; index++)
        todos.push(
          (await todosRepository.createIn(t.db, scope, { title: `heavy ${index}`, notes: '&'.repeat(60_000) }))!,
        );
      const start = await allFigures();
      const page = await browser.page('/'); // as a browser reads it (gzip), and its CSRF token for the toggles
      assert.equal(titlesOn(page).length, 40);
      assert.ok(page.includes('&amp;'.repeat(60_000)), 'the notes are all there, escaped');
      // The page viewed as the toggles go, its 12 MB left compressed (the server does all the work, the test reads little).
      const view = (encoding: string) =>
        rawRequestBytes(t.baseUrl, {
          path: '/',
          headers: {
            cookie: `todoapp_session=${browser.cookie('todoapp_session') ?? ''}`,
            accept: 'text/html',
            'accept-encoding': encoding,
          },
        });
      for (let round = 0; round < 2; round++) {
        for (const [index, todo] of todos.entries()) {
          const toggled = await browser.postForm(`/todos/${todo.id}/toggle`, {
            completed: round === 0 ? 'true' : 'false',
            returnTo: '/',
          });
          assert.equal(toggled.status, 303);
          if (index % 4 === 0) assert.equal((await view('gzip')).status, 200); // the kept items, rendered through the item cache on a miss
          if (index % 10 === 0) assert.equal((await view('identity')).status, 200); // without gzip: from the per-item markup every time
        }
        const api = await t.request('/api/todos', { headers: { 'accept-encoding': 'identity' } });
        assert.equal(api.status, 200);
        assert.ok((await api.text()).length > 2_400_000, 'the whole list, 2.4 MB of JSON');
      }
      const end = await allFigures();
      for (const name of NAMES) {
        assert.equal(end[name].maxBytes, CACHE_BOUNDS[name].maxBytes, `${name}: one app alive, reporting its bound`);
        assert.ok(
          end[name].bytes <= end[name].maxBytes,
          `${name}: ${end[name].bytes} bytes held, bound ${end[name].maxBytes}`,
        );
      }
      // Each todo's markup is some 600 KB counted (300,000 characters): over the
      // per-entry limit, so rendered each time and never kept.
      assert.ok(
        end.item_markup.notKept - start.item_markup.notKept >= 40,
        `${end.item_markup.notKept - start.item_markup.notKept} not kept`,
      );
      assert.ok(
        end.item_markup.bytes < CACHE_BOUNDS.item_markup.maxEntryBytes,
        `${end.item_markup.bytes} bytes of item markup kept`,
      );
      // The API's body of 2.4 MB is over its 2 MB limit: built for every request, never kept.
      assert.ok(end.list_bodies.notKept - start.list_bodies.notKept >= 2);
      const misses = (await cacheFigures('list_bodies')).misses;
      await t.request('/api/todos');
      assert.equal((await cacheFigures('list_bodies')).misses, misses + 1, 'still not kept: asked again, a miss');
      await t.db.query('DELETE FROM todos');
    });

    it('join a gzipped page from kept parts that reads exactly as the page made whole, with its own tokens', async () => {
      await t.db.query('DELETE FROM todos');
      const scope = { userId: t.alice.id, listId: t.alice.inboxId };
      for (let index = 0; index < 5; index++)
        await todosRepository.createIn(t.db, scope, { title: `joined ${index} <&>`, notes: 'ü'.repeat(index * 50) });
      // Written past the app: every render below must be at the same feed position (data-feed-position), so
      // wait until the feed (its poll) has read up to these writes.
      const latest = formatPosition(await changesRepository.latest(t.db));
      for (let tries = 0; tries < 200 && formatPosition(t.app.changeFeed.position) !== latest; tries++) await sleep(10);
      assert.equal(formatPosition(t.app.changeFeed.position), latest);
      const cookie = `todoapp_session=${browser.cookie('todoapp_session') ?? ''}`;
      const view = async (encoding: string) => {
        const response = await rawRequestBytes(t.baseUrl, {
          path: '/?q=joined',
          headers: { cookie, accept: 'text/html', 'accept-encoding': encoding },
        });
        assert.equal(response.status, 200);
        assert.equal(response.headers['content-encoding'], encoding === 'gzip' ? 'gzip' : undefined);
        return encoding === 'gzip' ? gunzipSync(response.body).toString() : response.body.toString();
      };
      // What differs with every render: the masked CSRF token, the forms' nonce.
      const tokens = (page: string) => [
        ...new Set(
          [...page.matchAll(/name="_csrf" value="([^"]+)"|name="_idempotency" value="([^"]+)"/g)].map((m) => m[0]),
        ),
      ];
      const blank = (page: string) =>
        page.replace(/(name="_csrf" value=|name="_idempotency" value=|name="csrf-token" content=)"[^"]+"/g, '$1""');
      const whole = await view('identity');
      const pages = [await view('gzip'), await view('gzip')];
      for (const page of pages) assert.equal(blank(page), blank(whole));
      assert.notDeepEqual(tokens(pages[0] ?? ''), tokens(pages[1] ?? ''), 'each render has its own tokens');
      // Every form of a render carries the same nonce (plugins/idempotency.ts): one per page.
      assert.equal(
        new Set([...(pages[1] ?? '').matchAll(/name="_idempotency" value="([^"]+)"/g)].map((m) => m[1])).size,
        1,
      );
      await t.db.query('DELETE FROM todos');
    });

    it('count hits and misses for every cache, in the metrics a scrape reads', async () => {
      await t.db.query('DELETE FROM todos');
      const scope = { userId: t.alice.id, listId: t.alice.inboxId };
      for (let index = 0; index < 3; index++)
        await todosRepository.createIn(t.db, scope, {
          title: `light ${index}`,
          dueDate: '2030-01-0' + (index + 1),
        });
      const start = await allFigures();
      await browser.page('/'); // list items miss, item markup and dates miss (all new rows)
      await browser.page('/'); // list items hit
      await browser.fetch('/', { headers: { 'accept-encoding': 'identity' } }); // item markup hits
      await t.request('/api/todos'); // list body miss
      await t.request('/api/todos'); // list body hit; auth lookups hit (the token, within a second)
      const end = await allFigures();
      const moved = (name: CacheName, field: 'hits' | 'misses') => end[name][field] - start[name][field];
      assert.ok(
        moved('list_items', 'misses') >= 1 && moved('list_items', 'hits') >= 1,
        JSON.stringify({ start: start.list_items, end: end.list_items }),
      );
      assert.ok(
        moved('item_markup', 'misses') >= 3 && moved('item_markup', 'hits') >= 3,
        JSON.stringify({ start: start.item_markup, end: end.item_markup }),
      );
      assert.ok(
        moved('page_parts', 'misses') >= 1 && moved('page_parts', 'hits') >= 5,
        JSON.stringify({ start: start.page_parts, end: end.page_parts }),
      );
      assert.ok(moved('readable_dates', 'misses') + moved('readable_dates', 'hits') >= 3);
      assert.equal(moved('list_bodies', 'misses'), 1);
      assert.equal(moved('list_bodies', 'hits'), 1);
      assert.ok(moved('auth_lookups', 'hits') + moved('auth_lookups', 'misses') >= 5);
      for (const name of NAMES) assert.ok(end[name].bytes > 0, `${name} holds something`);
      await t.db.query('DELETE FROM todos');
    });
  });

  describe(`two apps in one process on ${engine}`, () => {
    let apps: TestApp[] = [];
    before(async () => {
      // Made the same way, one after the other: on PGlite the same ids and row versions.
      apps = [await startTestApp(engine), await startTestApp(engine)];
    });
    after(() => Promise.all(apps.map((app) => app.close())));

    it('never share a cached entry, even for rows with the same id and version', async () => {
      const [a, b] = apps;
      assert.ok(a && b);
      const created = [];
      for (const [index, app] of apps.entries()) {
        created.push(
          (await todosRepository.createIn(
            app.db,
            { userId: app.alice.id, listId: app.alice.inboxId },
            { title: `only in app ${'AB'[index]}`, dueDate: '2031-02-03' },
          ))!,
        );
      }
      if (engine === 'pglite') {
        // So the test can fail: the two todos look the same to any key made of the row alone.
        assert.deepEqual(
          created.map((todo) => `${todo.id}:${todo.version}`),
          [`${created[0]?.id}:${created[0]?.version}`, `${created[0]?.id}:${created[0]?.version}`],
        );
      }
      const [first, second] = await Promise.all(apps.map((app) => app.browserFor(app.alice)));
      assert.ok(first && second);
      for (const encoding of ['gzip', 'identity']) {
        assert.deepEqual(
          titlesOn(await (await first.fetch('/', { headers: { 'accept-encoding': encoding } })).text()),
          ['only in app A'],
          encoding,
        );
        assert.deepEqual(
          titlesOn(await (await second.fetch('/', { headers: { 'accept-encoding': encoding } })).text()),
          ['only in app B'],
          encoding,
        );
      }
      const [listA, listB] = await Promise.all([a.request('/api/todos'), b.request('/api/todos')]);
      assert.deepEqual(
        ((await listA.json()) as { title: string }[]).map((todo) => todo.title),
        ['only in app A'],
      );
      assert.deepEqual(
        ((await listB.json()) as { title: string }[]).map((todo) => todo.title),
        ['only in app B'],
      );
    });
  });
}

describe('ByteCache', () => {
  it('drops the least recently used entries past its bound in bytes, not the oldest inserted', () => {
    const caches = createAppCaches({ item_markup: { maxBytes: 10_000, maxEntryBytes: 2_000 } });
    const cache = caches.itemMarkup;
    try {
      cache.set('kept', 'k'.repeat(400));
      for (let index = 0; index < 50; index++) {
        assert.equal(cache.get('kept'), 'k'.repeat(400), `read again before the ${index}th newer one`);
        cache.set(`other ${index}`, 'o'.repeat(400));
        assert.ok(cache.bytes <= 10_000, `${cache.bytes} bytes`);
      }
      assert.ok(cache.peek('kept'));
      assert.equal(cache.peek('other 0'), undefined);
      assert.ok(cache.size < 51);
    } finally {
      caches.close();
    }
  });

  it('answers but does not keep a value over its per-entry limit, and forgets an older value under that key', () => {
    const cache = new ByteCache<string>(
      'item_markup',
      { maxBytes: 10_000, maxEntryBytes: 2_000 },
      (value) => 2 * value.length,
    );
    try {
      assert.equal(cache.set('key', 'small'), true);
      assert.equal(cache.set('key', 'x'.repeat(1_000)), false);
      assert.equal(cache.get('key'), undefined);
      assert.equal(cache.bytes, 0);
      assert.deepEqual(cache.stats, { hits: 0, misses: 1, notKept: 1 });
    } finally {
      cache.close();
    }
  });

  it('counts a kept value again when it grew (resize)', () => {
    const cache = new ByteCache<{ parts: string[] }>(
      'list_bodies',
      { maxBytes: 100_000, maxEntryBytes: 50_000 },
      (value) => value.parts.join('').length,
    );
    try {
      const value = { parts: ['a'.repeat(1_000)] };
      cache.set('key', value);
      const before = cache.bytes;
      value.parts.push('b'.repeat(5_000));
      cache.resize('key');
      assert.equal(cache.bytes, before + 5_000);
      value.parts.push('c'.repeat(60_000));
      cache.resize('key');
      assert.equal(cache.peek('key'), undefined, 'grown past the per-entry limit: dropped');
    } finally {
      cache.close();
    }
  });
});
