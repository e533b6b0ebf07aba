// What this process remembers of sessions and tokens (plugins/auth.ts, the
// app's auth_lookups cache) is forgotten by the changes to users, sessions
// and tokens themselves, at once: a revoked token, an ended session, a
// changed password or a disabled user is refused on the very next request
// (no waiting for the cache to expire). Requests that change none of them
// leave it alone.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { tokensRepository } from '../../src/features/accounts/repository.ts';
import { AUTH_CACHE_MS } from '../../src/plugins/auth.ts';
import { ENGINES, startTestApp, type TestApp } from '../support/app.ts';
import { BrowserSession } from '../support/browser.ts';
import { cacheFigures } from '../support/caches.ts';

for (const engine of ENGINES) {
  describe(`the auth cache on ${engine}`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(engine);
    });
    after(() => t.close());

    /** A second browser holding the same session cookie as `browser`. */
    const sameSessionAs = (browser: BrowserSession) => {
      const copy = new BrowserSession(t.baseUrl);
      copy.setCookie('todoapp_session', browser.cookie('todoapp_session') ?? '');
      return copy;
    };

    it('refuses a token revoked on the account page on the next request', async () => {
      const user = await t.createUser('revoker');
      const browser = await t.browserFor(user);
      const api = () => t.request('/api/todos', { headers: { authorization: `Bearer ${user.token}` } });
      assert.equal((await api()).status, 200); // remembered now
      assert.equal((await api()).status, 200);
      await browser.page('/account');
      const [token] = await tokensRepository.listForUser(t.db, user.id);
      assert.ok(token);
      assert.equal((await browser.postForm(`/account/tokens/${token.id}/revoke`, {})).status, 303);
      assert.equal((await api()).status, 401, 'refused at once');
    });

    it('refuses a session logged out on the next request', async () => {
      const user = await t.createUser('leaver');
      const browser = await t.browserFor(user);
      const copy = sameSessionAs(browser);
      assert.equal((await copy.fetch('/')).status, 200); // remembered now
      assert.equal((await browser.postForm('/logout', {})).status, 303);
      const after = await copy.fetch('/');
      assert.equal(after.status, 303, 'the old cookie is worth nothing at once');
      assert.match(after.headers.get('location') ?? '', /^\/login/);
    });

    it('refuses the other sessions on the next request after a password change, keeping this one', async () => {
      const user = await t.createUser('changer');
      const here = await t.browserFor(user);
      const elsewhere = await t.browserFor(user);
      assert.equal((await elsewhere.fetch('/')).status, 200); // remembered now
      await here.page('/account');
      const changed = await here.postForm('/account/password', {
        currentPassword: user.password,
        newPassword: 'a brand new passphrase 2026',
      });
      assert.equal(changed.status, 303);
      assert.equal((await elsewhere.fetch('/')).status, 303, 'the other session ended at once');
      assert.equal((await here.fetch('/')).status, 200, 'this browser stays in');
    });

    it('refuses a user disabled by an admin, and one whose account is deleted, on the next request', async () => {
      const user = await t.createUser('disabled');
      const browser = await t.browserFor(user);
      const api = () => t.request('/api/todos', { headers: { authorization: `Bearer ${user.token}` } });
      assert.equal((await api()).status, 200);
      assert.equal((await browser.fetch('/')).status, 200);
      const admin = await t.browserFor(t.alice);
      await admin.page('/admin/users');
      assert.equal((await admin.postForm(`/admin/users/${user.id}/disable`, {})).status, 303);
      assert.equal((await api()).status, 401);
      assert.equal((await browser.fetch('/')).status, 303);

      const leaving = await t.createUser('deleted');
      const own = await t.browserFor(leaving);
      const copy = sameSessionAs(own);
      const leavingApi = () => t.request('/api/todos', { headers: { authorization: `Bearer ${leaving.token}` } });
      assert.equal((await leavingApi()).status, 200);
      assert.equal((await copy.fetch('/')).status, 200);
      await own.page('/account');
      assert.equal((await own.postForm('/account/delete', { password: leaving.password })).status, 303);
      assert.equal((await leavingApi()).status, 401);
      assert.equal((await copy.fetch('/')).status, 303);
    });

    it('stays as it is through requests that change no user, session or token (a failed log-in, a todo, a new token)', async () => {
      const user = await t.createUser('steady');
      const browser = await t.browserFor(user);
      const stranger = new BrowserSession(t.baseUrl);
      await stranger.page('/login');
      // The cache holds a lookup for a second: try again if the machine was too slow to look twice within one.
      for (let attempt = 1; ; attempt++) {
        await sleep(AUTH_CACHE_MS); // so what the first request remembers is fresh
        const started = performance.now();
        assert.equal((await browser.fetch('/')).status, 200); // remembered now
        assert.equal(
          (await stranger.postForm('/login', { username: user.username, password: 'not the password' })).status,
          401,
        );
        assert.equal((await browser.postForm('/todos', { title: 'a todo changes no session' })).status, 303);
        assert.equal((await browser.postForm('/account/tokens', { name: 'another' })).status, 201);
        const before = await cacheFigures('auth_lookups');
        assert.equal((await browser.fetch('/')).status, 200);
        const after = await cacheFigures('auth_lookups');
        if (performance.now() - started >= AUTH_CACHE_MS * 0.8) {
          assert.ok(attempt < 5, 'the machine never made these requests within a second');
          continue;
        }
        assert.deepEqual(
          { hits: after.hits - before.hits, misses: after.misses - before.misses },
          { hits: 1, misses: 0 },
          'the session was still remembered',
        );
        break;
      }
    });
  });
}
