// Ownership, CSRF, API tokens, security headers and CORS, over real HTTP on
// both engines.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { tokensRepository } from '../../src/features/accounts/repository.ts';
import { AUTH_CACHE_MS } from '../../src/plugins/auth.ts';
import { ENGINES, startTestApp, type TestApp, type TestUser } from '../support/app.ts';
import { BrowserSession } from '../support/browser.ts';

for (const engine of ENGINES) {
  describe(`security on ${engine}`, () => {
    let t: TestApp;
    let bob: TestUser;
    let alicesTodo: { id: number; title: string; url: string };
    before(async () => {
      t = await startTestApp(engine);
      bob = await t.createUser('bob');
      alicesTodo = (await (
        await t.request('/api/todos', { method: 'POST', json: { title: 'alice’s secret plan' } })
      ).json()) as typeof alicesTodo;
    });
    after(() => t.close());

    const asBob = (path: string, init: RequestInit & { json?: unknown } = {}) =>
      t.request(path, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${bob.token}` },
      });

    async function assertAlicesTodoUntouched() {
      const response = await t.request(`/api/todos/${alicesTodo.id}`);
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { title: string }).title, alicesTodo.title);
    }

    describe('ownership: another person’s todo is indistinguishable from a missing one', () => {
      it('through the API', async () => {
        const missing = alicesTodo.id + 100_000;
        for (const [method, json] of [
          ['GET', undefined],
          ['PATCH', { title: 'hijacked' }],
          ['DELETE', undefined],
        ] as const) {
          const theirs = await asBob(`/api/todos/${alicesTodo.id}`, { method, ...(json ? { json } : {}) });
          const nobodys = await asBob(`/api/todos/${missing}`, { method, ...(json ? { json } : {}) });
          assert.equal(theirs.status, 404, method);
          assert.deepEqual(await theirs.json(), await nobodys.json(), `${method} answers as for a missing todo`);
        }
        const list = (await (await asBob('/api/todos')).json()) as unknown[];
        assert.deepEqual(list, []);
        assert.equal((await asBob('/api/todos', { method: 'DELETE' })).status, 204);
        await assertAlicesTodoUntouched();
      });

      it('through the page and its forms', async () => {
        const browser = await t.browserFor(bob);
        const page = await browser.page('/');
        assert.ok(!page.includes(alicesTodo.title));
        assert.equal((await browser.postForm('/todos', { title: 'bob’s own' })).status, 303);
        assert.ok(!(await browser.page('/')).includes(alicesTodo.title));
        await assertAlicesTodoUntouched();
      });
    });

    describe('CSRF', () => {
      it('refuses a form post without a valid token, changing nothing', async () => {
        const browser = await t.browserFor(t.alice);
        const before = await (await t.request('/api/todos')).text();
        assert.equal((await browser.postForm('/todos', { _csrf: '', title: 'forged' })).status, 403);
        assert.equal((await browser.postForm('/todos', { _csrf: 'x'.repeat(43), title: 'forged' })).status, 403);
        const withoutField = await browser.fetch('/todos', {
          method: 'POST',
          body: new URLSearchParams({ title: 'forged' }),
        });
        assert.equal(withoutField.status, 403);
        assert.equal(await (await t.request('/api/todos')).text(), before);
      });

      it('masks the token afresh on every page (no fixed secret in compressed HTML), each one valid', async () => {
        const browser = await t.browserFor(t.alice);
        await browser.page('/');
        const first = browser.csrfToken;
        await browser.page('/');
        const second = browser.csrfToken;
        assert.ok(first && second);
        assert.notEqual(first, second);
        for (const token of [first, second]) {
          const response = await browser.postForm('/todos', {
            _csrf: token,
            title: `posted with ${token.slice(0, 6)}`,
          });
          assert.equal(response.status, 303);
        }
      });

      it('refuses a token from another session', async () => {
        const alices = await t.browserFor(t.alice);
        const bobs = await t.browserFor(bob);
        assert.notEqual(alices.csrfToken, bobs.csrfToken);
        const response = await alices.postForm('/todos', { _csrf: bobs.csrfToken ?? '', title: 'forged' });
        assert.equal(response.status, 403);
        assert.match(await response.text(), /CSRF/);
      });

      it('protects the API when it is called with a session cookie', async () => {
        const browser = await t.browserFor(t.alice);
        const json = { 'content-type': 'application/json', accept: 'application/json' };
        const body = JSON.stringify({ title: 'from the page script' });
        assert.equal((await browser.fetch('/api/todos', { method: 'POST', headers: json, body })).status, 403);
        assert.equal(
          (await browser.fetch('/api/todos', { method: 'POST', headers: { ...json, 'x-csrf-token': 'wrong' }, body }))
            .status,
          403,
        );
        const ok = await browser.fetch('/api/todos', {
          method: 'POST',
          headers: { ...json, 'x-csrf-token': browser.csrfToken ?? '' },
          body,
        });
        assert.equal(ok.status, 201);
        assert.equal(
          (await browser.fetch('/api/todos', { headers: { accept: 'application/json' } })).status,
          200,
          'reads need no token',
        );
      });

      it('protects the log-in form too', async () => {
        const browser = new BrowserSession(t.baseUrl);
        await browser.page('/login');
        const response = await browser.postForm('/login', {
          _csrf: 'nope',
          username: t.alice.username,
          password: t.alice.password,
        });
        assert.equal(response.status, 403);
      });
    });

    describe('API tokens', () => {
      it('a revoked, unknown or malformed token gets 401 with a JSON error', async () => {
        const user = await t.createUser('tokenuser');
        const auth = (token: string) => ({ authorization: `Bearer ${token}` });
        assert.equal((await t.request('/api/todos', { headers: auth(user.token) })).status, 200);
        const [token] = await tokensRepository.listForUser(t.db, user.id);
        assert.ok(token);
        await tokensRepository.revokeForUser(t.db, user.id, token.id);
        // Revoked behind this process's back, as through another replica: refused
        // once what this process remembers of the token has expired.
        await sleep(AUTH_CACHE_MS);
        for (const headers of [
          auth(user.token),
          auth('unknown-token-0123456789abcdef'),
          { authorization: 'Basic abc' },
          auth('x'),
        ]) {
          const response = await t.request('/api/todos', { headers });
          assert.equal(response.status, 401);
          assert.equal(((await response.json()) as { error: string }).error, 'Invalid or revoked API token');
        }
      });

      it('are created and revoked on the account page, shown once', async () => {
        const browser = await t.browserFor(bob);
        await browser.page('/account');
        const created = await browser.postForm('/account/tokens', { name: 'laptop script' });
        assert.equal(created.status, 201);
        const page = await created.text();
        const token = /<code>([A-Za-z0-9_-]+)<\/code>/.exec(page)?.[1];
        assert.ok(token, 'the new token is shown');
        assert.equal((await t.request('/api/todos', { headers: { authorization: `Bearer ${token}` } })).status, 200);
        const again = await browser.page('/account');
        assert.ok(!again.includes(token), 'and never again');
        const revokeAction = new RegExp(
          `action="(/account/tokens/\\d+/revoke)"(?:(?!</form>)[^])*aria-label="Revoke token laptop script"`,
        ).exec(again)?.[1];
        assert.ok(revokeAction);
        assert.equal((await browser.postForm(revokeAction, {})).status, 303);
        assert.equal((await t.request('/api/todos', { headers: { authorization: `Bearer ${token}` } })).status, 401);
      });
    });

    describe('a token is not a session', () => {
      const asForm = (token: string, fields: Record<string, string>): RequestInit => ({
        method: 'POST',
        redirect: 'manual',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'text/html',
        },
        body: new URLSearchParams(fields).toString(),
      });

      it('changes no password, starts or ends no session, makes or revokes no token, deletes nothing', async () => {
        const user = await t.createUser('tokenonly');
        const spare = await tokensRepository.create(t.db, user.id, 'spare', 'a-stored-hash-no-token-has-0123456789');
        const tokenIds = async () => (await tokensRepository.listForUser(t.db, user.id)).map((token) => token.id);
        const tokensBefore = await tokenIds();
        const browser = await t.browserFor(user);
        for (const [path, fields] of [
          ['/account/password', { currentPassword: user.password, newPassword: 'a brand new passphrase' }],
          ['/account/tokens', { name: 'minted by a token' }],
          [`/account/tokens/${spare.id}/revoke`, {}],
          ['/account/delete', { password: user.password }],
          ['/logout', {}],
        ] as const) {
          const response = await t.request(path, asForm(user.token, fields));
          assert.equal(response.status, 403, path);
          assert.match(await response.text(), /browser session/, path);
          assert.deepEqual(response.headers.getSetCookie(), [], `${path} hands out no cookie`);
        }
        assert.deepEqual(await tokenIds(), tokensBefore, 'no token made or revoked');
        assert.equal((await browser.fetch('/')).status, 200, 'the browser session is still there');
        await new BrowserSession(t.baseUrl).logIn(user.username, user.password); // the old password still works
      });

      it('acts on no HTML page or form route', async () => {
        const todo = (await (
          await t.request('/api/todos', { method: 'POST', json: { title: 'left alone' } })
        ).json()) as { id: number };
        const before = await (await t.request('/api/todos')).text();
        const gets = ['/', '/active', '/completed', '/account', '/login', '/signup', `/todos/${todo.id}/edit`];
        for (const path of gets) {
          const response = await t.request(path, { redirect: 'manual', headers: { accept: 'text/html' } });
          assert.equal(response.status, 403, `GET ${path}`);
        }
        const posts: [string, Record<string, string>][] = [
          ['/todos', { title: 'made by a token' }],
          ['/todos/toggle-all', { completed: 'true' }],
          ['/todos/delete-selected', { ids: String(todo.id) }],
          ['/todos/clear-completed', {}],
          [`/todos/${todo.id}/toggle`, { completed: 'true' }],
          [`/todos/${todo.id}/move`, { direction: 'up' }],
          [`/todos/${todo.id}/delete`, {}],
          [`/todos/${todo.id}`, { title: 'renamed by a token' }],
          ['/login', { username: t.alice.username, password: t.alice.password }],
          ['/signup', { username: 'madebytoken', password: 'a long enough passphrase' }],
        ];
        for (const [path, fields] of posts) {
          const response = await t.request(path, asForm(t.alice.token, fields));
          assert.equal(response.status, 403, `POST ${path}`);
          assert.deepEqual(response.headers.getSetCookie(), [], `POST ${path} hands out no cookie`);
        }
        const json = await t.request('/account', { redirect: 'manual', headers: { accept: 'application/json' } });
        assert.equal(json.status, 403);
        assert.match(((await json.json()) as { error: string }).error, /browser session/);
        assert.equal(await (await t.request('/api/todos')).text(), before, 'no todo changed');
        const [made] = await t.db.query("SELECT 1 FROM users WHERE username = 'madebytoken'");
        assert.equal(made, undefined, 'no account was made');
      });
    });

    it('sends security headers on pages and API responses', async () => {
      for (const response of [await new BrowserSession(t.baseUrl).fetch('/login'), await t.request('/api/todos')]) {
        const csp = response.headers.get('content-security-policy') ?? '';
        assert.match(csp, /script-src 'self'(;|$)/);
        assert.doesNotMatch(csp, /unsafe-inline/);
        assert.match(csp, /frame-ancestors 'none'/);
        assert.equal(response.headers.get('x-frame-options'), 'DENY');
        assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
        assert.ok(response.headers.get('referrer-policy'));
        assert.equal(response.headers.get('strict-transport-security'), null, 'no HSTS over plain HTTP');
      }
    });

    it('shows markup in titles as text on every page', async () => {
      const browser = await t.browserFor(t.alice);
      for (const title of ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>']) {
        assert.equal((await browser.postForm('/todos', { title })).status, 303);
      }
      for (const path of ['/', '/account']) {
        const page = await browser.page(path);
        assert.ok(!page.includes('<script>alert(1)</script>') && !page.includes('<img src=x'), path);
      }
    });
  });
}

describe('CORS', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp('pglite', { CORS_ORIGINS: 'https://app.example.com' });
  });
  after(() => t.close());

  it('answers the preflight of an allowed origin on API routes only', async () => {
    const preflight = await t.request('/api/todos', {
      method: 'OPTIONS',
      anonymous: true,
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'PATCH',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /PATCH/);
    assert.match(
      (preflight.headers.get('access-control-allow-headers') ?? '').toLowerCase(),
      /authorization.*content-type|content-type.*authorization/,
    );
    const get = await t.request('/api/todos', { headers: { origin: 'https://app.example.com' } });
    assert.equal(get.headers.get('access-control-allow-origin'), 'https://app.example.com');

    const other = await t.request('/api/todos', { headers: { origin: 'https://evil.example' } });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const page = await t.request('/login', { anonymous: true, headers: { origin: 'https://app.example.com' } });
    assert.equal(page.headers.get('access-control-allow-origin'), null);
  });

  it('sends no CORS headers when CORS_ORIGINS is empty', async () => {
    const plain = await startTestApp('pglite');
    try {
      const response = await plain.request('/api/todos', { headers: { origin: 'https://app.example.com' } });
      assert.equal(response.headers.get('access-control-allow-origin'), null);
    } finally {
      await plain.close();
    }
  });
});
