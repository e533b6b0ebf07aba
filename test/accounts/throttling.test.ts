// Throttling of password guesses and sign-ups, kept in the database, over
// real HTTP on both engines. TRUST_PROXY=true lets each request name its
// client address in X-Forwarded-For, as a load balancer would.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { usersRepository } from '../../src/features/accounts/repository.ts';
import { ENGINES, startTestApp, type TestApp, type TestUser } from '../support/app.ts';
import { BrowserSession } from '../support/browser.ts';

for (const engine of ENGINES) {
  describe(`throttling on ${engine}`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(engine, { TRUST_PROXY: 'true' });
    });
    after(() => t.close());

    /** A logged-out browser whose requests come from `address`. */
    async function visitorFrom(
      address: string,
      page = '/login',
    ): Promise<{ post(path: string, fields: Record<string, string>): Promise<Response> }> {
      const browser = new BrowserSession(t.baseUrl);
      const headers = { 'x-forwarded-for': address };
      const first = await browser.fetch(page, { headers });
      assert.equal(first.status, 200);
      return {
        post: (path, fields) =>
          browser.fetch(path, {
            method: 'POST',
            headers,
            body: new URLSearchParams({ _csrf: browser.csrfToken ?? '', ...fields }),
          }),
      };
    }

    const logIn = async (address: string, username: string, password: string) =>
      (await visitorFrom(address)).post('/login', { username, password });

    function assertThrottled(response: Response, what: string) {
      assert.equal(response.status, 429, what);
      assert.ok(Number(response.headers.get('retry-after')) > 0, `${what}: Retry-After`);
    }

    it('ten wrong passwords from one address do not lock the owner out from another', async () => {
      const owner = await t.createUser('owner1');
      const stranger = await visitorFrom('10.0.0.1');
      for (let attempt = 1; attempt <= 10; attempt++) {
        assert.equal((await stranger.post('/login', { username: 'owner1', password: `guess ${attempt}` })).status, 401);
      }
      assertThrottled(
        await stranger.post('/login', { username: 'owner1', password: owner.password }),
        'the stranger’s address, even with the right password',
      );
      assert.equal((await logIn('10.0.0.2', 'owner1', owner.password)).status, 303, 'the owner elsewhere logs in');
    });

    it('holds a per-account ceiling of 100 failures against guesses from many addresses', async () => {
      const owner = await t.createUser('owner2');
      // Ten addresses, ten guesses each: each address stays within its own limit.
      const statuses = await Promise.all(
        Array.from({ length: 10 }, async (_unused, index) => {
          const guesser = await visitorFrom(`10.1.0.${index + 1}`);
          const seen: number[] = [];
          for (let attempt = 1; attempt <= 10; attempt++)
            seen.push((await guesser.post('/login', { username: 'owner2', password: `guess ${attempt}` })).status);
          return seen;
        }),
      );
      assert.deepEqual(statuses.flat(), Array<number>(100).fill(401));
      assertThrottled(await logIn('10.1.1.1', 'owner2', owner.password), 'after 100 failures, from a fresh address');
    });

    it('keeps the per-address ceiling of 50 failures across accounts', async () => {
      const guesser = await visitorFrom('10.2.0.1');
      for (let account = 1; account <= 5; account++) {
        for (let attempt = 1; attempt <= 10; attempt++) {
          assert.equal(
            (await guesser.post('/login', { username: `nobody${account}`, password: `guess ${attempt}` })).status,
            401,
          );
        }
      }
      const someone = await t.createUser('someone');
      assertThrottled(
        await guesser.post('/login', { username: someone.username, password: someone.password }),
        'a sixth account from that address',
      );
      assert.equal((await logIn('10.2.0.2', someone.username, someone.password)).status, 303);
    });

    it('checks at most 10 passwords out of 40 parallel wrong log-ins', async () => {
      await t.createUser('owner3');
      const guesser = await visitorFrom('10.3.0.1');
      const responses = await Promise.all(
        Array.from({ length: 40 }, (_unused, index) =>
          guesser.post('/login', { username: 'owner3', password: `guess ${index}` }),
        ),
      );
      const checked = responses.filter((response) => response.status === 401).length;
      const throttled = responses.filter((response) => response.status === 429);
      assert.ok(checked >= 1 && checked <= 10, `${checked} passwords were checked`);
      assert.equal(checked + throttled.length, 40, 'every other answer is 429');
      for (const response of throttled) assertThrottled(response, 'a throttled attempt');
    });

    it('throttles the current-password checks of the account page like log-in', async () => {
      const user: TestUser = await t.createUser('owner4');
      const browser = await t.browserFor(user); // no X-Forwarded-For: the socket's address
      await browser.page('/account');
      for (let attempt = 1; attempt <= 6; attempt++) {
        const wrong = await browser.postForm('/account/password', {
          currentPassword: `guess ${attempt}`,
          newPassword: 'a brand new passphrase',
        });
        assert.equal(wrong.status, 400);
      }
      for (let attempt = 7; attempt <= 10; attempt++) {
        assert.equal((await browser.postForm('/account/delete', { password: `guess ${attempt}` })).status, 400);
      }
      const change = await browser.postForm('/account/password', {
        currentPassword: user.password,
        newPassword: 'a brand new passphrase',
      });
      assertThrottled(change, 'a password change with the right current password');
      assert.match(await change.text(), /Too many wrong passwords/);
      assertThrottled(
        await browser.postForm('/account/delete', { password: user.password }),
        'account deletion with the right password',
      );
      assert.ok(await usersRepository.findByUsername(t.db, 'owner4'), 'the account is still there');
      assertThrottled(
        await browser.postForm('/login', { username: user.username, password: user.password }),
        'log-in from the same address',
      );
      // The password did not change: the owner logs in with the old one from elsewhere.
      assert.equal((await logIn('10.4.0.2', user.username, user.password)).status, 303);
    });

    it('limits sign-ups to 10 an hour per address, before hashing, with a clear page', async () => {
      // A new browser for each: a sign-up logs that browser in.
      const signUp = async (address: string, username: string) =>
        (await visitorFrom(address, '/signup')).post('/signup', { username, password: 'a long enough passphrase' });
      for (let index = 1; index <= 10; index++) assert.equal((await signUp('10.5.0.1', `signer${index}`)).status, 303);
      const refused = await signUp('10.5.0.1', 'signer11');
      assertThrottled(refused, 'the eleventh sign-up');
      assert.match(refused.headers.get('content-type') ?? '', /text\/html/);
      assert.match(await refused.text(), /Too many sign-ups from your address/);
      assert.equal(await usersRepository.findByUsername(t.db, 'signer11'), undefined);
      assert.equal((await signUp('10.5.0.2', 'signer11')).status, 303, 'another address still signs up');
    });
  });
}
