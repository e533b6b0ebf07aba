// The first admin of a fresh server: `todoapp serve` prints a one-time setup
// code while no admin exists, and only a sign-up carrying it becomes the
// admin. Real `todoapp serve` processes on both engines.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ENGINES, freshDatabase, type EngineName, type TestDatabase } from '../support/app.ts';
import { BrowserSession } from '../support/browser.ts';
import { runCli, startCliServer, type CliServer } from '../support/cli.ts';

const CODE = /Setup code:\s+([0-9A-Z]{5}(?:-[0-9A-Z]{5}){3})/;
const PASSWORD = 'a long enough passphrase';

/** The setup code the server printed (it prints it right after it starts listening). */
async function printedCode(server: CliServer): Promise<string> {
  for (let waited = 0; waited < 10_000; waited += 50) {
    const code = CODE.exec(server.output())?.[1];
    if (code) return code;
    await sleep(50);
  }
  throw new Error(`no setup code was printed:\n${server.output()}`);
}

async function signUp(
  server: CliServer,
  fields: Record<string, string>,
): Promise<{ browser: BrowserSession; response: Response }> {
  const browser = new BrowserSession(server.baseUrl);
  await browser.page('/signup');
  return { browser, response: await browser.postForm('/signup', { password: PASSWORD, ...fields }) };
}

/** Whether this browser's person is an admin: the admin area answers them 200, anyone else 404. */
async function isAdmin(browser: BrowserSession): Promise<boolean> {
  const status = (await browser.fetch('/admin')).status;
  assert.ok(status === 200 || status === 404, `GET /admin answered ${status}`);
  return status === 200;
}

async function canLogIn(server: CliServer, username: string): Promise<boolean> {
  const browser = new BrowserSession(server.baseUrl);
  await browser.page('/login');
  return (await browser.postForm('/login', { username, password: PASSWORD })).status === 303;
}

for (const engine of ENGINES) {
  describe(`the first admin on ${engine}`, () => {
    let database: TestDatabase;
    let env: Record<string, string>;
    before(async () => {
      database = await freshDatabase(engine);
      env = { ...database.env, MIGRATE_ON_START: 'true' };
    });
    after(() => database.cleanup());

    it('comes from a sign-up with the code the fresh server printed, once; a sign-up without it is an ordinary user', async () => {
      const server = await startCliServer(env);
      try {
        const code = await printedCode(server);
        assert.match(server.output(), /\/signup/, 'with the sign-up address');
        assert.match(
          await new BrowserSession(server.baseUrl).page('/signup'),
          /<label>Setup code <input name="setupCode"/,
        );

        const plain = await signUp(server, { username: 'plain' });
        assert.equal(plain.response.status, 303);
        assert.equal(await isAdmin(plain.browser), false, 'no code: not an admin');

        const wrong = await signUp(server, { username: 'wrongcode', setupCode: 'AAAAA-BBBBB-CCCCC-DDDDD' });
        assert.equal(wrong.response.status, 400);
        assert.match(await wrong.response.text(), /setupCode: is not the setup code/);
        assert.equal(await canLogIn(server, 'wrongcode'), false, 'a wrong code creates nothing');

        // As a person would type it: lower case, without the dashes.
        const owner = await signUp(server, {
          username: 'owner',
          setupCode: ` ${code.toLowerCase().replaceAll('-', '')} `,
        });
        assert.equal(owner.response.status, 303);
        assert.equal(await isAdmin(owner.browser), true, 'the code makes the admin');

        const again = await signUp(server, { username: 'again', setupCode: code });
        assert.equal(again.response.status, 400, 'the code works once');
        assert.equal(await canLogIn(server, 'again'), false);
        assert.doesNotMatch(
          await new BrowserSession(server.baseUrl).page('/signup'),
          /setupCode/,
          'no field once an admin exists',
        );
      } finally {
        await server.stop();
      }
      const restarted = await startCliServer(env);
      try {
        await sleep(500);
        assert.doesNotMatch(restarted.output(), /Setup code/i, 'a server with an admin prints no code');
        assert.equal(await canLogIn(restarted, 'owner'), true);
      } finally {
        await restarted.stop();
      }
    });
  });

  describe(`createsuperuser on ${engine}`, () => {
    let database: TestDatabase;
    before(async () => {
      database = await freshDatabase(engine);
      assert.equal((await runCli(['migrate'], database.env)).code, 0);
    });
    after(() => database.cleanup());

    it('still makes the first admin; the server then prints no setup code', async () => {
      const created = await runCli(['createsuperuser', '--username', 'root'], {
        ...database.env,
        TODOAPP_PASSWORD: PASSWORD,
      });
      assert.equal(created.code, 0, created.stderr);
      const server = await startCliServer(database.env);
      try {
        await sleep(500);
        assert.doesNotMatch(server.output(), /Setup code/i);
        const browser = new BrowserSession(server.baseUrl);
        await browser.logIn('root', PASSWORD);
        assert.equal(await isAdmin(browser), true);
      } finally {
        await server.stop();
      }
    });
  });
}

describe('a printed setup code and createsuperuser on postgres', () => {
  const engine: EngineName = 'postgres';
  let database: TestDatabase;
  before(async () => {
    database = await freshDatabase(engine);
  });
  after(() => database.cleanup());

  it('the code stops working once createsuperuser made an admin', async () => {
    const server = await startCliServer({ ...database.env, MIGRATE_ON_START: 'true' });
    try {
      const code = await printedCode(server);
      const created = await runCli(['createsuperuser', '--username', 'root'], {
        ...database.env,
        TODOAPP_PASSWORD: PASSWORD,
      });
      assert.equal(created.code, 0, created.stderr);
      const late = await signUp(server, { username: 'late', setupCode: code });
      assert.equal(late.response.status, 400);
      assert.equal(await canLogIn(server, 'late'), false);
    } finally {
      await server.stop();
    }
  });

  it('with REGISTRATION=closed prints no code, but says how to make the admin', async () => {
    const fresh = await freshDatabase(engine);
    const server = await startCliServer({ ...fresh.env, MIGRATE_ON_START: 'true', REGISTRATION: 'closed' });
    try {
      for (let waited = 0; waited < 5000 && !/createsuperuser/.test(server.output()); waited += 50) await sleep(50);
      assert.match(server.output(), /No admin account exists yet[\s\S]*todoapp createsuperuser --username/);
      assert.doesNotMatch(server.output(), CODE);
    } finally {
      await server.stop();
      await fresh.cleanup();
    }
  });
});
