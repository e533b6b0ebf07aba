// What a request carries besides its body, on both engines, over real HTTP:
// a JSON content type on a request without a body (the Todo-Backend runner),
// the Host header and PUBLIC_URL in the absolute URLs we give out, redirect
// targets taken from user input, and Cache-Control on every kind of route.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ENGINES, startTestApp, type TestApp, type TodoJson } from './support/app.ts';
import { BrowserSession } from './support/browser.ts';
import { rawRequest, type RawResponse } from './support/http.ts';

const EVIL_HOSTS = [
  '127.0.0.1:1@evil.example',
  '127.0.0.1:9/evil',
  'localhost:x<y>',
  'localhost:',
  'localhost:99999',
  'localhost:80:80',
  '[::1]x',
  'localhost evil',
  'evil.example',
];

for (const engine of ENGINES) {
  describe(`requests on ${engine}`, () => {
    let t: TestApp;
    let port: string;
    before(async () => {
      t = await startTestApp(engine);
      port = new URL(t.baseUrl).port;
    });
    after(() => t.close());
    beforeEach(async () => {
      await t.request('/api/todos', { method: 'DELETE' });
    });

    const raw = (
      method: string,
      path: string,
      headers: Record<string, string> = {},
      body?: string,
    ): Promise<RawResponse> =>
      rawRequest(t.baseUrl, { method, path, body, headers: { authorization: `Bearer ${t.alice.token}`, ...headers } });
    const create = async (title: string) =>
      (await (await t.request('/api/todos', { method: 'POST', json: { title } })).json()) as TodoJson;
    const count = async () => ((await (await t.request('/api/todos')).json()) as TodoJson[]).length;
    const json = { 'content-type': 'application/json' };

    describe('a JSON content type without a body', () => {
      it('DELETE /api/todos deletes (as the Todo-Backend reference specs send it), with or without Content-Length: 0', async () => {
        await create('one');
        const bare = await raw('DELETE', '/api/todos', json);
        assert.equal(bare.status, 204, bare.body);
        assert.equal(await count(), 0);
        await create('two');
        const zero = await raw('DELETE', '/api/todos', { ...json, 'content-length': '0' });
        assert.equal(zero.status, 204, zero.body);
        assert.equal(await count(), 0);
      });

      it('DELETE /api/todos/{id} deletes, GET and HEAD read', async () => {
        const todo = await create('one');
        const read = await raw('GET', `/api/todos/${todo.id}`, { ...json, 'content-length': '0' });
        assert.equal(read.status, 200, read.body);
        assert.equal((JSON.parse(read.body) as TodoJson).title, 'one');
        assert.equal((await raw('GET', '/api/todos', json)).status, 200);
        assert.equal((await raw('HEAD', `/api/todos/${todo.id}`, json)).status, 200);
        const deleted = await raw('DELETE', `/api/todos/${todo.id}`, { ...json, 'content-length': '0' });
        assert.equal(deleted.status, 204, deleted.body);
        assert.equal(await count(), 0);
      });

      it('POST and PATCH with an empty JSON body stay a 400 naming the body, and change nothing', async () => {
        const todo = await create('one');
        for (const [method, path] of [
          ['POST', '/api/todos'],
          ['PATCH', `/api/todos/${todo.id}`],
          ['PATCH', '/api/todos'],
        ] as const) {
          for (const headers of [
            { ...json, 'content-length': '0' },
            { ...json, 'transfer-encoding': 'chunked' },
          ]) {
            const response = await raw(method, path, headers);
            assert.equal(response.status, 400, `${method} ${path} ${JSON.stringify(headers)}: ${response.body}`);
            assert.deepEqual(JSON.parse(response.body), {
              error: 'Empty JSON body',
              details: [{ field: 'body', message: 'must be a JSON object' }],
            });
          }
        }
        assert.equal(await count(), 1);
        assert.equal(((await (await t.request(`/api/todos/${todo.id}`)).json()) as TodoJson).title, 'one');
      });

      it('a DELETE with a malformed JSON body is still refused', async () => {
        await create('one');
        const response = await raw('DELETE', '/api/todos', { ...json, 'content-length': '1' }, '{');
        assert.equal(response.status, 400);
        assert.equal((JSON.parse(response.body) as { error: string }).error, 'Malformed JSON');
        assert.equal(await count(), 1);
      });
    });

    describe('the Host header', () => {
      it('refuses a Host that is more than an allowed name and a numeric port, with a clear message, changing nothing', async () => {
        for (const host of EVIL_HOSTS) {
          const listed = await raw('GET', '/api/todos', { host });
          assert.equal(listed.status, 400, `${host}: ${listed.body}`);
          assert.equal((JSON.parse(listed.body) as { details: { field: string }[] }).details[0]?.field, 'Host', host);
          assert.doesNotMatch(listed.body, /evil/);
          const created = await raw('POST', '/api/todos', { host, ...json }, JSON.stringify({ title: 'poisoned' }));
          assert.equal(created.status, 400, host);
          assert.equal(created.headers.location, undefined);
          const page = await rawRequest(t.baseUrl, { path: '/', headers: { host, accept: 'text/html' } });
          assert.equal(page.status, 400, host);
          assert.equal(page.headers.location, undefined, host);
        }
        assert.equal(await count(), 0);
      });

      it('accepts allowed names with or without a port, IPv6 literals in brackets, any case', async () => {
        for (const [host, origin] of <[string, string][]>[
          [`localhost:${port}`, `http://localhost:${port}`],
          ['LocalHost', 'http://localhost'],
          ['127.0.0.1:8000', 'http://127.0.0.1:8000'],
          ['[::1]:8000', 'http://[::1]:8000'],
          ['[::1]', 'http://[::1]'],
        ]) {
          const created = await raw('POST', '/api/todos', { host, ...json }, JSON.stringify({ title: host }));
          assert.equal(created.status, 201, `${host}: ${created.body}`);
          const todo = JSON.parse(created.body) as TodoJson;
          assert.equal(todo.url, `${origin}/api/todos/${todo.id}`);
          assert.equal(created.headers.location, todo.url);
        }
      });
    });

    describe('redirect targets', () => {
      const EVIL_TARGETS = [
        '/\t/evil.example/x',
        '//evil.example',
        '/\\evil.example',
        'https://evil.example/',
        '/.//evil.example',
        '/\n/evil.example',
        'javascript:alert(1)',
      ];

      it('log-in keeps a same-origin next, normalised, and sends anything else to /', async () => {
        const logIn = async (next: string) => {
          const browser = new BrowserSession(t.baseUrl);
          await browser.page('/login');
          const response = await browser.postForm('/login', {
            username: t.alice.username,
            password: t.alice.password,
            next,
          });
          assert.equal(response.status, 303, JSON.stringify(next));
          return response.headers.get('location');
        };
        for (const next of EVIL_TARGETS) assert.equal(await logIn(next), '/', JSON.stringify(next));
        assert.equal(await logIn('/?a=\x01b'), '/');
        assert.equal(await logIn('/active?q=a b'), '/active?q=a%20b');
        assert.equal(await logIn(`http://localhost:${port}/account`), '/account');
      });

      it('the list forms save the todo once and go back to a safe page, never a 500', async () => {
        const browser = await t.browserFor(t.alice);
        const post = async (path: string, fields: Record<string, string>) => {
          await browser.page('/');
          return browser.postForm(path, fields);
        };
        const added = await post('/todos', { title: 'with a control character', returnTo: '/?a=\x01b' });
        assert.equal(added.status, 303, await added.text());
        assert.equal(added.headers.get('location'), '/');
        assert.equal(await count(), 1);
        for (const returnTo of EVIL_TARGETS) {
          const response = await post('/todos', { title: 'evil', returnTo });
          assert.equal(response.status, 303, JSON.stringify(returnTo));
          assert.equal(response.headers.get('location'), '/', JSON.stringify(returnTo));
        }
        assert.equal(await count(), 1 + EVIL_TARGETS.length);
        const [todo] = (await (await t.request('/api/todos')).json()) as TodoJson[];
        assert.ok(todo);
        const toggled = await post(`/todos/${todo.id}/toggle`, { completed: 'true', returnTo: '/completed?q=e v' });
        assert.equal(toggled.headers.get('location'), '/completed?q=e%20v');
        const other = await post(`/todos/${todo.id}/toggle`, { completed: 'false', returnTo: '/account' });
        assert.equal(other.headers.get('location'), '/', 'only the list pages');
        const edit = await browser.page(`/todos/${todo.id}/edit?returnTo=${encodeURIComponent('/\t/evil.example/x')}`);
        assert.doesNotMatch(edit, /evil\.example/);
        assert.match(edit, /name="returnTo" value="\/"/);
      });
    });

    describe('Cache-Control', () => {
      const PERSONAL = 'private, no-store';

      it('the API: one todo and every write private, no-store; the list private, no-cache with its ETag and 304', async () => {
        const created = await t.request('/api/todos', { method: 'POST', json: { title: 'mine' } });
        assert.equal(created.headers.get('cache-control'), PERSONAL);
        const todo = (await created.json()) as TodoJson;
        assert.equal((await t.request(`/api/todos/${todo.id}`)).headers.get('cache-control'), PERSONAL);
        assert.equal(
          (await t.request(`/api/todos/${todo.id}`, { method: 'PATCH', json: { completed: true } })).headers.get(
            'cache-control',
          ),
          PERSONAL,
        );
        assert.equal((await t.request('/api/todos/999999')).headers.get('cache-control'), PERSONAL);
        assert.equal((await t.request('/api/todos', { anonymous: true })).headers.get('cache-control'), PERSONAL);
        const list = await t.request('/api/todos');
        assert.equal(list.headers.get('cache-control'), 'private, no-cache');
        const etag = list.headers.get('etag');
        assert.match(etag ?? '', /^W\//);
        const again = await t.request('/api/todos', { headers: { 'if-none-match': etag ?? '' } });
        assert.equal(again.status, 304);
        assert.equal(again.headers.get('cache-control'), 'private, no-cache');
        assert.equal(
          (await t.request(`/api/todos/${todo.id}`, { method: 'DELETE' })).headers.get('cache-control'),
          PERSONAL,
        );
      });

      it('every page, redirect and error private, no-store; fingerprinted assets immutable', async () => {
        const todo = await create('mine');
        const browser = await t.browserFor(t.alice);
        for (const path of [
          '/',
          '/active',
          '/completed',
          `/todos/${todo.id}/edit`,
          '/account',
          '/admin',
          '/admin/users',
          `/admin/todos/${todo.id}`,
          '/no-such-page',
        ]) {
          const response = await browser.fetch(path);
          assert.ok([200, 404].includes(response.status), `${path}: ${response.status}`);
          assert.equal(response.headers.get('cache-control'), PERSONAL, path);
        }
        const anonymous = new BrowserSession(t.baseUrl);
        for (const path of ['/login', '/signup', '/']) {
          assert.equal((await anonymous.fetch(path)).headers.get('cache-control'), PERSONAL, path);
        }
        await browser.page('/');
        const redirected = await browser.postForm(`/todos/${todo.id}/toggle`, { completed: 'true' });
        assert.equal(redirected.status, 303);
        assert.equal(redirected.headers.get('cache-control'), PERSONAL);
        const page = await browser.page('/');
        const asset = /(\/static\/[^"]+)"/.exec(page)?.[1];
        assert.ok(asset, 'the page links a fingerprinted asset');
        assert.equal(
          (await fetch(new URL(asset, t.baseUrl))).headers.get('cache-control'),
          'public, max-age=31536000, immutable',
        );
      });
    });
  });

  describe(`PUBLIC_URL on ${engine}`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(engine, {
        PUBLIC_URL: 'https://todo.example.com/',
        TRUST_PROXY: 'true',
        ALLOWED_HOSTS: 'localhost,todo.example.com,internal',
      });
    });
    after(() => t.close());

    it('builds the API’s url fields, Location and Link from it, whatever the Host or X-Forwarded-* say', async () => {
      const headers = {
        authorization: `Bearer ${t.alice.token}`,
        'content-type': 'application/json',
        host: 'internal:8000',
        'x-forwarded-host': 'localhost',
        'x-forwarded-proto': 'http',
      };
      const created = await rawRequest(t.baseUrl, {
        method: 'POST',
        path: '/api/todos',
        headers,
        body: JSON.stringify({ title: 'one' }),
      });
      assert.equal(created.status, 201, created.body);
      const todo = JSON.parse(created.body) as TodoJson;
      assert.equal(todo.url, `https://todo.example.com/api/todos/${todo.id}`);
      assert.equal(created.headers.location, todo.url);
      await t.request('/api/todos', { method: 'POST', json: { title: 'two' } });
      const listed = await t.request('/api/todos?limit=1');
      assert.equal(
        ((await listed.json()) as TodoJson[])[0]?.url.startsWith('https://todo.example.com/api/todos/'),
        true,
      );
      assert.match(listed.headers.get('link') ?? '', /^<https:\/\/todo\.example\.com\/api\/todos\?limit=1&cursor=/);
      const patched = await t.request(`/api/todos/${todo.id}`, { method: 'PATCH', json: { completed: true } });
      assert.equal(((await patched.json()) as TodoJson).url, todo.url);
    });

    it('an https PUBLIC_URL makes cookies Secure and __Host- and sends HSTS, even when the proxy says nothing of the scheme', async () => {
      const page = await rawRequest(t.baseUrl, { path: '/login', headers: { host: 'internal:8000' } });
      assert.equal(page.status, 200);
      assert.equal(page.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
      const browser = new BrowserSession(t.baseUrl);
      await browser.page('/login');
      const response = await browser.postForm('/login', { username: t.alice.username, password: t.alice.password });
      assert.equal(response.status, 303);
      const cookies = response.headers.getSetCookie();
      assert.ok(
        cookies.some((cookie) => /^__Host-[^=]*session[^=]*=/.test(cookie) && /; Secure/i.test(cookie)),
        cookies.join('\n'),
      );
      assert.ok(
        cookies.every((cookie) => /; Secure/i.test(cookie)),
        cookies.join('\n'),
      );
    });

    it('still refuses a malformed Host', async () => {
      const response = await rawRequest(t.baseUrl, {
        path: '/api/todos',
        headers: { authorization: `Bearer ${t.alice.token}`, host: 'localhost:1@evil.example' },
      });
      assert.equal(response.status, 400);
    });

    it('log-in keeps next only on the public origin', async () => {
      const logIn = async (next: string) => {
        const browser = new BrowserSession(t.baseUrl);
        await browser.page('/login');
        return (
          await browser.postForm('/login', { username: t.alice.username, password: t.alice.password, next })
        ).headers.get('location');
      };
      assert.equal(await logIn('https://todo.example.com/active'), '/active');
      assert.equal(await logIn(`${t.baseUrl}/active`), '/');
    });
  });
}

describe('the Host header with ALLOWED_HOSTS=*', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp('pglite', { ALLOWED_HOSTS: '*', TRUST_PROXY: 'true' });
  });
  after(() => t.close());

  it('answers any well-formed name but still refuses a malformed Host, X-Forwarded-Host or X-Forwarded-Proto', async () => {
    const auth = { authorization: `Bearer ${t.alice.token}` };
    assert.equal(
      (await rawRequest(t.baseUrl, { path: '/api/todos', headers: { ...auth, host: 'anything.example:8000' } })).status,
      200,
    );
    for (const headers of <Record<string, string>[]>[
      { host: '127.0.0.1:1@evil.example' },
      { host: 'localhost', 'x-forwarded-host': 'a.example:1@evil.example' },
      { host: 'localhost', 'x-forwarded-proto': 'javascript' },
    ]) {
      const response = await rawRequest(t.baseUrl, { path: '/api/todos', headers: { ...auth, ...headers } });
      assert.equal(response.status, 400, `${JSON.stringify(headers)}: ${response.body}`);
      assert.doesNotMatch(response.body, /evil|javascript/);
    }
    assert.equal((await rawRequest(t.baseUrl, { path: '/healthz', headers: { host: '10.1.2.3:8000' } })).status, 200);
  });
});
