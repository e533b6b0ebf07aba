// People's accounts over real HTTP on both engines: sign up, log in and out,
// sessions, password change, account deletion, and login throttling.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LastAdminError, usersRepository } from '../../src/features/accounts/repository.ts';
import { AUTH_CACHE_MS } from '../../src/plugins/auth.ts';
import { ENGINES, startTestApp, type TestApp } from '../support/app.ts';
import { BrowserSession } from '../support/browser.ts';

const SESSION = 'todoapp_session';

for (const engine of ENGINES) {
  describe(`accounts on ${engine}`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(engine);
    });
    after(() => t.close());

    const visitor = () => new BrowserSession(t.baseUrl);

    async function signUp(
      username: string,
      password: string,
    ): Promise<{ browser: BrowserSession; response: Response }> {
      const browser = visitor();
      await browser.page('/signup');
      return { browser, response: await browser.postForm('/signup', { username, password }) };
    }

    it('a logged-out visitor to / is sent to log in; the API answers 401', async () => {
      const response = await visitor().fetch('/');
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), '/login');
      const api = await t.request('/api/todos', { anonymous: true });
      assert.equal(api.status, 401);
      assert.match(((await api.json()) as { error: string }).error, /Authentication required/);
    });

    it('signs up, logged in at once, with a list of its own; a sign-up without the setup code is no admin', async () => {
      const { browser, response } = await signUp('carol', 'a long enough passphrase');
      assert.equal(response.status, 303);
      assert.match(await browser.page('/'), /Account \(carol\)/);
      assert.equal((await usersRepository.findByUsername(t.db, 'carol'))?.isAdmin, false);
      assert.equal((await usersRepository.findByUsername(t.db, 'alice'))?.isAdmin, true);
    });

    it('refuses short, common and taken credentials, creating nothing', async () => {
      for (const [username, password, status, pattern] of [
        ['dave', 'short', 400, /password: must be at least 8 characters/],
        ['dave', 'password', 400, /password: is too common/],
        ['dave', 'iloveyou', 400, /password: is too common/],
        ['dave', 'dave', 400, /password: must be at least 8/],
        ['bad name!', 'a long enough passphrase', 400, /username: must be 1–50 letters/],
        ['CAROL', 'another long passphrase', 409, /username: is taken/],
      ] as const) {
        const { response } = await signUp(username, password);
        assert.equal(response.status, status, `${username}/${password}`);
        assert.match(await response.text(), pattern);
      }
      assert.equal(await usersRepository.findByUsername(t.db, 'dave'), undefined);
    });

    it('gives a new session id at login and ends it at logout', async () => {
      const user = await t.createUser('erin');
      const browser = visitor();
      browser.setCookie(SESSION, 'planted-by-an-attacker-0123456789');
      await browser.logIn(user.username, user.password);
      const first = browser.cookie(SESSION);
      assert.ok(first && first !== 'planted-by-an-attacker-0123456789');
      assert.equal(
        (await browser.postForm('/login', { username: user.username, password: user.password })).status,
        303,
      );
      assert.notEqual(browser.cookie(SESSION), first, 'each login issues a fresh id');
      const replaced = visitor();
      replaced.setCookie(SESSION, first);
      assert.equal((await replaced.fetch('/')).status, 303, 'the session it replaced is gone');
      await browser.page('/');

      const old = browser.cookie(SESSION) ?? '';
      assert.equal((await browser.postForm('/logout', {})).status, 303);
      assert.equal(browser.cookie(SESSION), undefined, 'the cookie is cleared');
      const replay = visitor();
      replay.setCookie(SESSION, old);
      assert.equal((await replay.fetch('/')).status, 303, 'the old cookie no longer works');
    });

    it('sets the session cookie HttpOnly and SameSite=Lax; over HTTPS with the __Host- prefix and Secure', async () => {
      const user = await t.createUser('frank');
      const browser = visitor();
      await browser.page('/login');
      const response = await browser.postForm('/login', { username: user.username, password: user.password });
      const cookie = response.headers.getSetCookie().find((line) => line.startsWith(`${SESSION}=`)) ?? '';
      assert.match(cookie, /HttpOnly/i);
      assert.match(cookie, /SameSite=Lax/i);
      assert.doesNotMatch(cookie, /Secure/i);

      const https = await startTestApp(engine, { TRUST_PROXY: 'true' });
      try {
        const secure = new BrowserSession(https.baseUrl);
        const headers = { 'x-forwarded-proto': 'https' };
        const page = await secure.fetch('/login', { headers });
        assert.match(page.headers.get('strict-transport-security') ?? '', /max-age=\d+/);
        const login = await secure.fetch('/login', {
          method: 'POST',
          headers,
          body: new URLSearchParams({
            _csrf: secure.csrfToken ?? '',
            username: https.alice.username,
            password: https.alice.password,
          }),
        });
        assert.equal(login.status, 303);
        const secureCookie = login.headers.getSetCookie().find((line) => line.startsWith(`__Host-${SESSION}=`)) ?? '';
        assert.match(secureCookie, /Secure/i);
        assert.match(secureCookie, /Path=\//);
        assert.doesNotMatch(secureCookie, /Domain=/i);
        assert.equal((await secure.fetch('/', { headers })).status, 200, 'the __Host- cookie logs in over HTTPS');
      } finally {
        await https.close();
      }
    });

    it('changes the password only with the current one, ending the other sessions', async () => {
      const user = await t.createUser('grace');
      const here = await t.browserFor(user);
      const elsewhere = await t.browserFor(user);
      await here.page('/account');
      const wrong = await here.postForm('/account/password', {
        currentPassword: 'not it at all',
        newPassword: 'a brand new passphrase',
      });
      assert.equal(wrong.status, 400);
      assert.match(await wrong.text(), /currentPassword: is not your current password/);
      const changed = await here.postForm('/account/password', {
        currentPassword: user.password,
        newPassword: 'a brand new passphrase',
      });
      assert.equal(changed.status, 303);
      assert.equal((await here.fetch('/')).status, 200, 'this browser stays logged in');
      assert.equal((await elsewhere.fetch('/')).status, 303, 'other sessions are logged out');
      const again = visitor();
      await again.logIn(user.username, 'a brand new passphrase');
    });

    it('deletes the account with its todos, sessions and tokens', async () => {
      const user = await t.createUser('heidi');
      const auth = { authorization: `Bearer ${user.token}` };
      assert.equal(
        (await t.request('/api/todos', { method: 'POST', json: { title: 'mine' }, headers: auth })).status,
        201,
      );
      const browser = await t.browserFor(user);
      await browser.page('/account');
      const refused = await browser.postForm('/account/delete', { password: 'wrong password' });
      assert.equal(refused.status, 400);
      assert.equal((await browser.postForm('/account/delete', { password: user.password })).status, 303);
      assert.equal(await usersRepository.findByUsername(t.db, 'heidi'), undefined);
      assert.equal((await t.request('/api/todos', { headers: auth })).status, 401);
      assert.equal((await browser.fetch('/')).status, 303);
      const rows = await t.db.query('SELECT 1 FROM todos WHERE owner_id = $1', [user.id]);
      assert.equal(rows.length, 0);
    });

    it('throttles a burst of wrong passwords with 429 and Retry-After, per account and address', async () => {
      const victim = await t.createUser('ivan');
      const other = await t.createUser('judy');
      const attacker = visitor();
      await attacker.page('/login');
      for (let attempt = 1; attempt <= 10; attempt++) {
        assert.equal(
          (await attacker.postForm('/login', { username: 'ivan', password: `guess ${attempt}` })).status,
          401,
        );
      }
      const blocked = await attacker.postForm('/login', { username: 'ivan', password: victim.password });
      assert.equal(blocked.status, 429, 'even the right password waits');
      assert.ok(Number(blocked.headers.get('retry-after')) > 0);
      // Another account from the same address still logs in.
      await attacker.logIn(other.username, other.password);
    });

    it('ends a disabled user’s session and refuses their token', async () => {
      const user = await t.createUser('mallory');
      const browser = await t.browserFor(user);
      await usersRepository.setDisabled(t.db, user.id, true);
      // Disabled behind this process's back, as through another replica: in
      // effect once what this process remembers of the session has expired.
      await sleep(AUTH_CACHE_MS);
      assert.equal((await browser.fetch('/')).status, 303);
      assert.equal((await t.request('/api/todos', { headers: { authorization: `Bearer ${user.token}` } })).status, 401);
      const login = visitor();
      await login.page('/login');
      assert.equal((await login.postForm('/login', { username: user.username, password: user.password })).status, 401);
    });

    it('never leaves the app without an enabled admin, even when two admins demote each other at once', async () => {
      const fresh = await startTestApp(engine);
      try {
        const other = await fresh.createUser('second', { admin: true });
        const results = await Promise.allSettled([
          usersRepository.setAdmin(fresh.db, fresh.alice.id, false),
          usersRepository.setAdmin(fresh.db, other.id, false),
        ]);
        assert.deepEqual(results.map((result) => result.status).sort(), ['fulfilled', 'rejected']);
        const rejected = results.find((result) => result.status === 'rejected');
        assert.ok(rejected?.reason instanceof LastAdminError);
        const [remaining] = await fresh.db.query<{ admins: number }>(
          'SELECT count(*)::int AS admins FROM users WHERE is_admin AND NOT is_disabled',
        );
        assert.equal(remaining?.admins, 1);
        const lastAdmin = (await usersRepository.findByUsername(fresh.db, 'alice'))?.isAdmin
          ? fresh.alice.id
          : other.id;
        await assert.rejects(usersRepository.setDisabled(fresh.db, lastAdmin, true), LastAdminError);
      } finally {
        await fresh.close();
      }
    });

    it('closes sign-up with REGISTRATION=closed', async () => {
      const closed = await startTestApp(engine, { REGISTRATION: 'closed' });
      try {
        const browser = new BrowserSession(closed.baseUrl);
        assert.equal((await browser.fetch('/signup')).status, 404);
        await browser.page('/login');
        assert.equal(
          (await browser.postForm('/signup', { username: 'zed', password: 'a long enough passphrase' })).status,
          404,
        );
        assert.equal(await usersRepository.findByUsername(closed.db, 'zed'), undefined);
      } finally {
        await closed.close();
      }
    });
  });
}
