// An event stream lasts while the credential it was opened with does: a
// log-out, a token revoked, a password change (the other sessions) or a user
// disabled ends the streams it ended, within a second, on both engines and,
// on PostgreSQL, through another replica of the app than the one streaming.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tokensRepository } from '../../src/features/accounts/repository.ts';
import { registry } from '../../src/plugins/metrics.ts';
import type { BrowserSession } from '../support/browser.ts';
import {
  ENGINES,
  freshDatabase,
  startTestApp,
  type TestApp,
  type TestDatabase,
  type TestUser,
} from '../support/app.ts';
import { EventStreamClient } from '../support/sse.ts';

const SESSION_COOKIE = 'todoapp_session';

type Credentials = Record<string, string>;

/** A token's, or a browser's session as it is now. */
function credentialsOf(as: { token: string } | BrowserSession): Credentials {
  if ('token' in as) return { authorization: `Bearer ${as.token}` };
  const session = as.cookie(SESSION_COOKIE);
  assert.ok(session, 'the browser has a session');
  return { cookie: `${SESSION_COOKIE}=${session}` };
}

/** Opens GET /api/events at `app` with a token or a browser's session; waits for `ready`. */
async function listen(
  app: TestApp,
  streams: EventStreamClient[],
  as: { token: string } | BrowserSession,
): Promise<EventStreamClient> {
  const headers = credentialsOf(as);
  const stream = await EventStreamClient.open(`${app.baseUrl}/api/events`, headers);
  streams.push(stream);
  assert.equal(stream.status, 200);
  await stream.waitFor((event) => event.event === 'ready', { what: 'ready' });
  return stream;
}

/** A metric's value as a scrape of the process's registry shows it (`name{labels} value`). */
async function scraped(series: string): Promise<number> {
  const text = await registry.metrics();
  const line = text.split('\n').find((row) => row.startsWith(`${series} `));
  assert.ok(line, `${series} in the metrics`);
  return Number(line.slice(series.length + 1));
}

/** Refused now: the same credential cannot open a stream again. */
async function refused(app: TestApp, headers: Credentials): Promise<void> {
  const response = await fetch(`${app.baseUrl}/api/events`, { headers });
  assert.equal(response.status, 401);
  await response.body?.cancel();
}

async function posted(response: Promise<Response>): Promise<void> {
  const answer = await response;
  assert.equal(answer.status, 303, await answer.text());
}

async function revokeAll(app: TestApp, browser: BrowserSession, user: TestUser): Promise<void> {
  await browser.page('/account');
  for (const token of await tokensRepository.listForUser(app.db, user.id))
    await posted(browser.postForm(`/account/tokens/${token.id}/revoke`, {}));
}

for (const engine of ENGINES) {
  describe(`event streams end with their credentials on ${engine}`, () => {
    let t: TestApp;
    const streams: EventStreamClient[] = [];
    before(async () => {
      t = await startTestApp(engine);
    });
    after(async () => {
      for (const stream of streams) stream.close();
      await t.close();
    });

    it('a log-out ends that session’s streams within 1 s, and no other session’s or token’s', async () => {
      const bob = await t.createUser('bob');
      const [leaving, staying] = [await t.browserFor(bob), await t.browserFor(bob)];
      const [ending, otherSession, byToken] = [
        await listen(t, streams, leaving),
        await listen(t, streams, staying),
        await listen(t, streams, bob),
      ];
      const ended = t.app.changeFeed.figures.ended;
      const old = credentialsOf(leaving);
      await posted(leaving.postForm('/logout', {}));
      await ending.waitClosed({ what: 'the logged-out session’s stream' });
      await refused(t, old);
      assert.equal(t.app.changeFeed.figures.ended, ended + 1);
      // The others are still open, and still live: a change reaches them.
      await t.request(`/api/lists/${bob.inboxId}/todos`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bob.token}` },
        json: { title: 'still here' },
      });
      for (const stream of [otherSession, byToken]) {
        await stream.waitFor((event) => event.event === 'todo', { what: 'the change' });
        assert.equal(stream.closed, false);
      }
    });

    it('a token revoked ends its streams, not the session’s', async () => {
      const carol = await t.createUser('carol');
      const browser = await t.browserFor(carol);
      const [byToken, bySession] = [await listen(t, streams, carol), await listen(t, streams, browser)];
      await revokeAll(t, browser, carol);
      await byToken.waitClosed({ what: 'the revoked token’s stream' });
      await refused(t, credentialsOf(carol));
      assert.equal(bySession.closed, false);
    });

    it('a password change ends the other sessions’ streams; this browser streams on with its new session', async () => {
      const dave = await t.createUser('dave');
      const [changing, other] = [await t.browserFor(dave), await t.browserFor(dave)];
      const [own, others] = [await listen(t, streams, changing), await listen(t, streams, other)];
      const before = credentialsOf(changing);
      await changing.page('/account');
      await posted(
        changing.postForm('/account/password', {
          currentPassword: dave.password,
          newPassword: 'a-new-password-for-dave-2026',
        }),
      );
      await others.waitClosed({ what: 'the other session’s stream' });
      await refused(t, credentialsOf(other));
      // This browser's old session ended too (a new id at the change): its stream ends, and it reconnects with the new one.
      await own.waitClosed({ what: 'the old session’s stream' });
      await refused(t, before);
      assert.notDeepEqual(credentialsOf(changing), before);
      await listen(t, streams, changing);
    });

    it('a user disabled by an admin: every stream of theirs ends, session and token', async () => {
      const erin = await t.createUser('erin');
      const browser = await t.browserFor(erin);
      const mine = [await listen(t, streams, browser), await listen(t, streams, erin)];
      const session = credentialsOf(browser);
      const admin = await t.browserFor(t.alice);
      await admin.page('/admin/users');
      await posted(admin.postForm(`/admin/users/${erin.id}/disable`, {}));
      for (const stream of mine) await stream.waitClosed({ what: 'the disabled user’s stream' });
      await refused(t, session);
      await refused(t, credentialsOf(erin));
    });

    it('counts what the feed does in the metrics a scrape reads: open streams, ended ones, reconnections', async () => {
      const gus = await t.createUser('gus');
      const ended = await scraped('todoapp_events_streams_ended_total{reason="credentials"}');
      const replayed = await scraped('todoapp_events_reconnections_total{result="replayed"}');
      const resync = await scraped('todoapp_events_reconnections_total{result="resync"}');
      const first = await listen(t, streams, gus);
      const open = await scraped('todoapp_events_streams');
      assert.ok(open >= t.app.changeFeed.figures.streams && open >= 1);
      // Back with a Last-Event-ID it was given: replayed; with one never given: resync.
      const again = await EventStreamClient.open(`${t.baseUrl}/api/events`, {
        ...credentialsOf(gus),
        'last-event-id': first.lastEventId,
      });
      streams.push(again);
      await again.waitFor((event) => event.event === 'ready');
      const lost = await EventStreamClient.open(
        `${t.baseUrl}/api/events?lastEventId=not-a-position`,
        credentialsOf(gus),
      );
      streams.push(lost);
      await lost.waitFor((event) => event.event === 'resync');
      assert.equal(await scraped('todoapp_events_reconnections_total{result="replayed"}'), replayed + 1);
      assert.equal(await scraped('todoapp_events_reconnections_total{result="resync"}'), resync + 1);
      assert.equal(await scraped('todoapp_events_streams'), open + 2);
      const browser = await t.browserFor(gus);
      await revokeAll(t, browser, gus);
      for (const stream of [first, again, lost]) await stream.waitClosed();
      assert.equal(await scraped('todoapp_events_streams_ended_total{reason="credentials"}'), ended + 3);
      assert.equal(await scraped('todoapp_events_streams'), open - 1);
      assert.ok((await scraped('todoapp_events_sent_total')) > 0);
      assert.ok((await scraped('todoapp_events_changes_read_total')) >= 0);
    });
  });
}

describe('event streams end with their credentials across replicas (PostgreSQL)', () => {
  let database: TestDatabase;
  let first: TestApp;
  let second: TestApp;
  const streams: EventStreamClient[] = [];
  before(async () => {
    database = await freshDatabase('postgres');
    first = await startTestApp('postgres', database.env, { reuseDatabase: true });
    // The same database, migrated already: a second replica.
    second = await startTestApp('postgres', database.env, { reuseDatabase: true, migrate: false });
  });
  after(async () => {
    for (const stream of streams) stream.close();
    await second?.close();
    await first?.close();
    await database?.cleanup();
  });

  it('a log-out or a token revoked through one replica ends the stream open on the other within 1 s', async () => {
    const frank = await first.createUser('frank');
    const browser = await first.browserFor(frank);
    const [bySession, byToken] = [await listen(second, streams, browser), await listen(second, streams, frank)];
    await revokeAll(first, browser, frank);
    const tokenTook = await byToken.waitClosed({ what: 'the token’s stream on the other replica' });
    assert.equal(bySession.closed, false);
    const session = credentialsOf(browser);
    await posted(browser.postForm('/logout', {}));
    const sessionTook = await bySession.waitClosed({ what: 'the session’s stream on the other replica' });
    assert.equal(second.app.changeFeed.figures.ended, 2);
    await refused(second, credentialsOf(frank));
    await refused(second, session);
    console.log(
      `# streams ended on the other replica ${tokenTook.toFixed(0)} ms (token) and ${sessionTook.toFixed(0)} ms (session) after the change`,
    );
  });
});
