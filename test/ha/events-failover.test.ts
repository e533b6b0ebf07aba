// A client listening to GET /api/events through a replica that is killed, and
// then through a failover of the database (the primary killed, the standby
// promoted): it reconnects as a browser does (to a replica still there, with
// its Last-Event-ID) and ends up having seen every change that was
// acknowledged, each once, with no resync.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TodoJson } from '../support/app.ts';
import { startCliServer, type CliServer } from '../support/cli.ts';
import { EventStreamClient, type ServerEvent } from '../support/sse.ts';
import { prepareDrill, type DrillSetup } from './drill.ts';
import { startStreamingPair, type StreamingPair } from './streaming-pair.ts';

/** Listens like a browser's EventSource: when the stream ends, it comes back (to the next replica) with its Last-Event-ID. */
class ReconnectingListener {
  readonly events: ServerEvent[] = [];
  reconnections = 0;
  #current: EventStreamClient | undefined;
  #stopped = false;
  readonly done: Promise<void>;

  constructor(
    private readonly replicas: () => string[],
    private readonly token: string,
  ) {
    this.done = this.#run();
  }

  async #run(): Promise<void> {
    let lastEventId: string | undefined;
    for (let attempt = 0; !this.#stopped; attempt++) {
      const replicas = this.replicas();
      const base = replicas[attempt % replicas.length];
      try {
        const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
        if (lastEventId) headers['last-event-id'] = lastEventId;
        const stream = await EventStreamClient.open(`${base}/api/events`, headers);
        this.#current = stream;
        if (stream.status === 200) {
          if (attempt > 0) this.reconnections++;
          while (!stream.closed && !this.#stopped) {
            await stream.waitFor(() => false, { timeoutMs: 200 }).catch(() => undefined);
            const fresh = stream.events.splice(0);
            this.events.push(...fresh);
            const last = fresh.filter((event) => event.id !== '').at(-1);
            if (last) lastEventId = last.id;
          }
        }
        stream.close();
      } catch {
        // The replica is gone: the next one.
      }
      if (!this.#stopped) await sleep(200);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#current?.close();
    await this.done;
  }
}

describe('live events through a replica killed and a database failover', () => {
  let pair: StreamingPair;
  let setup: DrillSetup;
  const apps: CliServer[] = [];

  before(async () => {
    pair = await startStreamingPair({ synchronous: true });
    await pair.waitForStandby();
    setup = await prepareDrill(pair, { direct: true });
    apps.push(await startCliServer(setup.env), await startCliServer(setup.env));
  });
  after(async () => {
    for (const app of apps) await app.stop('SIGKILL');
    await pair?.stop();
  });

  const alive = () =>
    apps.filter((app) => app.child.exitCode === null && app.child.signalCode === null).map((app) => app.baseUrl);

  /** Adds a todo through a live replica, trying again (same Idempotency-Key) until it is acknowledged. */
  async function add(title: string): Promise<TodoJson> {
    const key = randomUUID();
    const deadline = performance.now() + 30_000;
    for (let attempt = 0; ; attempt++) {
      const replicas = alive();
      try {
        const response = await fetch(`${replicas[attempt % replicas.length]}/api/todos`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${setup.token}`,
            'content-type': 'application/json',
            'idempotency-key': key,
          },
          body: JSON.stringify({ title }),
        });
        if (response.status === 201) return (await response.json()) as TodoJson;
      } catch {
        // the replica or the database is away: again
      }
      if (performance.now() > deadline) throw new Error(`could not add ${title}`);
      await sleep(100);
    }
  }

  it('misses no acknowledged change and delivers none twice', async (t) => {
    try {
      await drill(t);
    } catch (error) {
      // What the replicas said is most of what a failure here can be understood by.
      for (const [index, app] of apps.entries())
        console.error(
          `--- replica ${index + 1}, its last 80 lines:\n${app.output().split('\n').slice(-80).join('\n')}`,
        );
      throw error;
    }
  });

  async function drill(t: { diagnostic(message: string): void }): Promise<void> {
    const listener = new ReconnectingListener(alive, setup.token);
    await sleep(500);
    const added: TodoJson[] = [];
    for (let i = 0; i < 10; i++) added.push(await add(`before ${i}`));
    await apps[0]!.stop('SIGKILL'); // the replica the listener is on
    for (let i = 0; i < 10; i++) added.push(await add(`replica gone ${i}`));
    await pair.killPrimary('SIGKILL');
    const writes = (async () => {
      for (let i = 0; i < 10; i++) added.push(await add(`failover ${i}`));
    })();
    await sleep(1000);
    await pair.promote();
    await writes;

    const seen = () =>
      new Set(
        listener.events
          .filter((event) => event.event === 'todo')
          .map((event) => (event.data as { todo: TodoJson }).todo.id),
      );
    const deadline = performance.now() + 15_000;
    while (added.some((todo) => !seen().has(todo.id)) && performance.now() < deadline) await sleep(100);
    await listener.stop();

    const missed = added.filter((todo) => !seen().has(todo.id)).map((todo) => todo.title);
    t.diagnostic(`${added.length} changes, ${listener.reconnections} reconnections, ${listener.events.length} events`);
    assert.deepEqual(missed, [], 'every acknowledged change reached the listener');
    const ids = listener.events.filter((event) => event.event !== 'ready').map((event) => event.id);
    assert.equal(new Set(ids).size, ids.length, 'no change twice');
    assert.ok(!listener.events.some((event) => event.event === 'resync'), 'no resync');
    assert.ok(listener.reconnections >= 1, 'it did reconnect');
  }
});
