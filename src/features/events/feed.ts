// The live feed: one reader of the change log per app, fanning each change
// out to the open event streams of the people who may see its list.
//
// The log is the truth; NOTIFY only wakes the readers. This app notifies
// after its own writes commit (changed(): its own reader at once, the other
// replicas' through one NOTIFY per NOTIFY_EVERY_MS at most, sent outside the
// writing transactions, whose commits a NOTIFY would serialise), and a poll
// catches what a lost notification, or a writer that does not notify (psql,
// the previous release), leaves. The
// reader keeps one position and reads the final changes after it
// (repository.ts), so each change is read once per app however many streams
// are open, and each stream gets each change once, in order, with its
// position as the event id. A stream that comes back with Last-Event-ID is
// given what it missed from the log first, or `resync` when that is no longer
// there (pruned, or too much).
//
// A stream lasts while its credential does: a log-out, a password change, a
// token revoked or a user disabled, through any replica, ends the streams it
// ended (a NOTIFY tells the other replicas; each heartbeat checks again, for
// an expired session or a lost notification).
//
// Bounded: a stream whose client does not read (more than MAX_BUFFERED_BYTES
// waiting in its socket) is closed, and the client comes back with its
// Last-Event-ID; nothing is kept per stream but its lists and position.
import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../../db/database.ts';
import { credentialsStillGood } from '../accounts/repository.ts';
import { access, type Role } from '../lists/access.ts';
import { listsRepository, type ListRecord } from '../lists/repository.ts';
import { listJson } from '../lists/schemas.ts';
import { todosRepository } from '../todos/repository.ts';
import { toJson } from '../todos/schemas.ts';
import { noFigures, retireFeed, trackFeed, type FeedFigures } from './metrics.ts';
import { changesRepository, compare, formatPosition, START, type Change, type Position } from './repository.ts';

export const CHANNEL = 'todoapp_list_changes';
/** The payload on CHANNEL that says a session, token or user changed (the list changes' is empty). */
const CREDENTIALS = 'credentials';
/** Changes read at a time. */
const BATCH = 500;
/** A stream away for more changes than this gets `resync` instead of them. */
export const MAX_REPLAY = 5000;
/** Bytes waiting in a stream's socket before the stream is dropped (the client reconnects and catches up). */
export const MAX_BUFFERED_BYTES = 1 << 20;
/** The log is read this often even with no notification (a lost one, a listen connection being remade, another writer). */
const POLL_MS = 500;
/** The other replicas are told of this app's writes at most this often (one NOTIFY for a burst). */
const NOTIFY_EVERY_MS = 20;
/** A change not yet final (its transaction older than one still running) is looked for again this soon. */
const HELD_BACK_MS = 50;
const HEARTBEAT_MS = 20_000;
const PRUNE_MS = 60 * 60 * 1000;

export interface Stream {
  readonly userId: number;
  /** The credential it was opened with (request.credential): it ends when that does. */
  readonly credential: string;
  /** The origin its URLs are written with. */
  readonly base: string;
  readonly raw: ServerResponse;
  /** The lists it may see, with the role in each. */
  lists: Map<number, Role>;
  position: Position;
  /** Messages made while it was catching up, sent once it has. */
  pending: { position: Position; text: string }[] | undefined;
}

/** Runs `work` (which never rejects) one at a time: asked while it runs, it runs once more after. */
class OneAtATime {
  readonly #work: () => Promise<void>;
  #running: Promise<void> | undefined;
  #again = false;

  constructor(work: () => Promise<void>) {
    this.#work = work;
  }

  run(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#work().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.run();
      }
    });
  }

  /** Resolves once nothing runs. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running.catch(() => {});
  }
}

function message(position: Position, event: string, data: unknown): string {
  return `id: ${formatPosition(position)}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class ChangeFeed {
  readonly #db: Database;
  readonly #log: FastifyBaseLogger;
  readonly #retentionDays: number;
  #position: Position = START;
  #ownWrites = 0;
  readonly #streams = new Set<Stream>();
  readonly #byList = new Map<number, Set<Stream>>();
  readonly #byUser = new Map<number, Set<Stream>>();
  /** What each stream is sent next, written out together (#flush). */
  readonly #outbox = new Map<Stream, string>();
  /** Reads the log: one read at a time, and one more if asked meanwhile. */
  readonly #reading = new OneAtATime(() => this.#read());
  #stopped = false;
  #timers: NodeJS.Timeout[] = [];
  #heldBack: NodeJS.Timeout | undefined;
  #listening: { stop(): Promise<void> } | undefined;
  /** Checks the streams' credentials, likewise. */
  readonly #checking = new OneAtATime(() => this.#check());
  /** What it did, also in the metrics (metrics.ts). */
  readonly figures: FeedFigures = noFigures();

  readonly #clearLookups: () => void;

  /** `clearLookups`: what forgets the sessions and tokens this app remembers (Auth.clearLookups). */
  constructor(db: Database, log: FastifyBaseLogger, retentionDays: number, clearLookups: () => void) {
    this.#db = db;
    this.#log = log;
    this.#retentionDays = retentionDays;
    this.#clearLookups = clearLookups;
    trackFeed(this);
  }

  /** Where the feed has read to: a page rendered now is at least this new (it hands this to its stream). */
  get position(): Position {
    return this.#position;
  }

  /**
   * Changes whenever the lists may have: a change read from the log (by
   * anyone, through any replica), or a write of this app's committed just now
   * (before the feed reads it). A key for what is kept of the lists.
   */
  get stamp(): string {
    return `${formatPosition(this.#position)}+${this.#ownWrites}`;
  }

  async start(): Promise<void> {
    this.#position = await changesRepository.latest(this.#db);
    this.#listening = await this.#db.listen(
      CHANNEL,
      (payload) => {
        if (payload !== CREDENTIALS) return this.wake();
        // Another replica changed a user, a session or a token: refused here from the next request on too.
        this.#clearLookups();
        this.checkCredentials();
      },
      () => {
        // Listening (again, after a failover): what was sent meanwhile is lost.
        this.wake();
        this.#clearLookups();
        this.checkCredentials();
      },
    );
    this.#timers.push(setInterval(() => this.wake(), POLL_MS).unref());
    this.#timers.push(setInterval(() => this.#heartbeat(), HEARTBEAT_MS).unref());
    this.#timers.push(setInterval(() => void this.prune(), PRUNE_MS).unref());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    clearTimeout(this.#heldBack);
    clearTimeout(this.#notifying);
    for (const stream of [...this.#streams]) stream.raw.destroy();
    await this.#reading.idle();
    await this.#checking.idle();
    await this.#listening?.stop().catch(() => {});
    this.figures.streams = 0;
    retireFeed(this);
  }

  /** Ends every stream (a shutting-down replica): their clients reconnect elsewhere and catch up. */
  endStreams(): void {
    for (const stream of [...this.#streams]) this.#end(stream);
  }

  #end(stream: Stream): void {
    stream.raw.end();
    // A client that does not read would hold the connection, and the server's close, open.
    setTimeout(() => stream.raw.destroy(), 1000).unref();
  }

  /**
   * Told by this app once a change to users, sessions or tokens has
   * committed: ends the streams whose credential it ended, here and (one
   * NOTIFY) on the other replicas.
   */
  credentialsChanged(): void {
    this.checkCredentials();
    if (this.#stopped) return;
    this.#db
      .query('SELECT pg_notify($1, $2)', [CHANNEL, CREDENTIALS])
      .catch((error: unknown) => this.#log.warn({ err: error }, 'could not notify the other replicas'));
  }

  /** Ends the streams whose credential is no longer good (one query for all of them). */
  checkCredentials(): void {
    if (this.#stopped || this.#streams.size === 0) return;
    this.#checking.run();
  }

  async #check(): Promise<void> {
    if (this.#stopped) return;
    const streams = [...this.#streams];
    let good: Set<string>;
    try {
      good = await credentialsStillGood(this.#db, new Set(streams.map((stream) => stream.credential)));
    } catch (error) {
      // The database is away: the next heartbeat, or the listen connection's return, checks again.
      this.#log.warn({ err: error }, 'could not check the event streams’ credentials');
      return;
    }
    for (const stream of streams) {
      if (good.has(stream.credential) || !this.#streams.has(stream)) continue;
      this.figures.ended++;
      this.#remove(stream);
      this.#end(stream);
    }
  }

  async prune(): Promise<number> {
    try {
      return await changesRepository.prune(this.#db, this.#retentionDays);
    } catch (error) {
      this.#log.warn({ err: error }, 'could not prune the change log');
      return 0;
    }
  }

  #notifying: NodeJS.Timeout | undefined;

  /**
   * Told by this app's writes once they commit: reads the log now, and soon
   * wakes the other replicas (one NOTIFY for all the writes of NOTIFY_EVERY_MS).
   */
  changed(): void {
    this.#ownWrites++;
    this.wake();
    if (this.#notifying || this.#stopped) return;
    this.#notifying = setTimeout(() => {
      this.#notifying = undefined;
      this.#db
        .query('SELECT pg_notify($1, $2)', [CHANNEL, ''])
        .catch((error: unknown) => this.#log.warn({ err: error }, 'could not notify the other replicas'));
    }, NOTIFY_EVERY_MS);
  }

  /** Reads the log now (again, if a read is under way). */
  wake(): void {
    if (this.#stopped) return;
    this.#reading.run();
  }

  async #read(): Promise<void> {
    if (this.#stopped) return;
    try {
      if (this.#streams.size === 0) {
        // Nobody to tell: only keep up, for the position a page is rendered with.
        const latest = await changesRepository.latest(this.#db);
        if (this.#streams.size === 0) {
          if (compare(latest, this.#position) > 0) this.#position = latest;
          return;
        }
      }
      for (;;) {
        const changes = await changesRepository.since(this.#db, this.#position, BATCH);
        if (changes.length > 0) {
          await this.#deliver(changes, undefined);
          this.#position = changes.at(-1)!.position;
          this.figures.changesRead += changes.length;
        }
        if (changes.length < BATCH) break;
      }
      if (await changesRepository.anyAfter(this.#db, this.#position)) {
        clearTimeout(this.#heldBack);
        this.#heldBack = setTimeout(() => this.wake(), HELD_BACK_MS).unref();
      }
    } catch (error) {
      // The database is away (a failover): the poll and the listen connection's return read again.
      this.#log.warn({ err: error }, 'could not read the change log');
    }
  }

  /**
   * Opens a stream for a person: live from now, or, with `after` (their
   * Last-Event-ID), first everything after it they may see. Resolves once it
   * is live.
   */
  async open(
    caller: { userId: number; credential: string },
    base: string,
    raw: ServerResponse,
    after: Position | undefined,
  ): Promise<Stream> {
    const { userId, credential } = caller;
    const lists = new Map((await listsRepository.visibleTo(this.#db, userId)).map((list) => [list.id, list.role]));
    const stream: Stream = {
      userId,
      credential,
      base,
      raw,
      lists,
      position: this.#position,
      pending: after ? [] : undefined,
    };
    this.#add(stream);
    raw.on('close', () => this.#remove(stream));
    if (after) {
      const horizon = await changesRepository.horizon(this.#db);
      const missed =
        compare(after, horizon) < 0
          ? undefined
          : await changesRepository.since(this.#db, after, MAX_REPLAY + 1, { userId, lists: [...lists.keys()] });
      if (!missed || missed.length > MAX_REPLAY) {
        // Too old to replay: the client starts again from what it reads now.
        this.figures.resynced++;
        this.#write(stream, message(this.#position, 'resync', {}));
        stream.position = this.#position;
      } else {
        this.figures.replayed++;
        stream.position = after;
        await this.#deliver(missed, stream);
      }
      const pending = stream.pending ?? [];
      stream.pending = undefined;
      for (const queued of pending) {
        if (compare(queued.position, stream.position) <= 0) continue;
        stream.position = queued.position;
        this.#write(stream, queued.text);
      }
    }
    this.#write(stream, message(stream.position, 'ready', {}));
    return stream;
  }

  #add(stream: Stream): void {
    this.#streams.add(stream);
    this.figures.streams = this.#streams.size;
    let mine = this.#byUser.get(stream.userId);
    if (!mine) this.#byUser.set(stream.userId, (mine = new Set()));
    mine.add(stream);
    for (const listId of stream.lists.keys()) this.#index(stream, listId);
  }

  #index(stream: Stream, listId: number): void {
    let watching = this.#byList.get(listId);
    if (!watching) this.#byList.set(listId, (watching = new Set()));
    watching.add(stream);
  }

  #unindex(stream: Stream, listId: number): void {
    const watching = this.#byList.get(listId);
    watching?.delete(stream);
    if (watching?.size === 0) this.#byList.delete(listId);
  }

  #remove(stream: Stream): void {
    if (!this.#streams.delete(stream)) return;
    this.figures.streams = this.#streams.size;
    for (const listId of stream.lists.keys()) this.#unindex(stream, listId);
    const mine = this.#byUser.get(stream.userId);
    mine?.delete(stream);
    if (mine?.size === 0) this.#byUser.delete(stream.userId);
  }

  /** Sends a change's message to a stream, once and in order (a live one queued while the stream catches up). */
  #send(stream: Stream, position: Position, text: string, catchingUp: boolean): void {
    if (stream.pending && !catchingUp) {
      stream.pending.push({ position, text });
      return;
    }
    if (compare(position, stream.position) <= 0) return;
    stream.position = position;
    this.#write(stream, text);
  }

  /**
   * Queues a message for a stream; what a read of the log makes for one
   * stream leaves in one socket write (a burst of changes to 1,000 streams is
   * 1,000 writes, not 1,000 per change).
   */
  #write(stream: Stream, text: string): void {
    this.#outbox.set(stream, (this.#outbox.get(stream) ?? '') + text);
    this.figures.eventsSent++;
    if (this.#outbox.size === 1) queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    for (const [stream, text] of this.#outbox) {
      if (stream.raw.writableEnded || stream.raw.destroyed) continue;
      if (stream.raw.writableLength > MAX_BUFFERED_BYTES) {
        // A client that does not read: let it go (it reconnects with its Last-Event-ID and catches up).
        this.figures.dropped++;
        stream.raw.destroy();
        this.#remove(stream);
        continue;
      }
      stream.raw.write(text);
    }
    this.#outbox.clear();
  }

  #heartbeat(): void {
    for (const stream of this.#streams) if (!stream.pending) stream.raw.write(': ping\n\n');
    // A session expired, or a notification lost: ended within a heartbeat.
    this.checkCredentials();
  }

  /**
   * Turns changes into events for the streams that may see them: every open
   * stream (`only` undefined), or one catching up. The todos and lists are
   * read as they are now: a change shows its todo's latest state, and a todo
   * moved away meanwhile is left to the later change that says so.
   */
  async #deliver(changes: Change[], only: Stream | undefined): Promise<void> {
    const todoIds = [...new Set(changes.flatMap((change) => (change.kind === 'todo' ? [change.todoId!] : [])))];
    const listIds = [...new Set(changes.map((change) => change.listId))];
    const [todos, lists] = await Promise.all([
      todoIds.length > 0 ? todosRepository.anyForFeed(this.#db, todoIds) : [],
      listsRepository.anyForFeed(this.#db, listIds),
    ]);
    const todoById = new Map(todos.map((todo) => [todo.id, todo]));
    const listById = new Map(lists.map((list) => [list.id, list]));
    const catchingUp = only !== undefined;
    const targets = (listId: number): Iterable<Stream> =>
      only ? (only.lists.has(listId) ? [only] : []) : (this.#byList.get(listId) ?? []);
    for (const change of changes) {
      const { position, listId } = change;
      const list = listById.get(listId);
      const activeCount = list?.activeCount ?? 0;
      switch (change.kind) {
        case 'todo': {
          const todo = todoById.get(change.todoId!);
          if (!todo || todo.listId !== listId) break;
          const bodies = new Map<string, string>();
          for (const stream of targets(listId)) {
            let text = bodies.get(stream.base);
            if (text === undefined)
              bodies.set(
                stream.base,
                (text = message(position, 'todo', { listId, activeCount, todo: toJson(todo, stream.base) })),
              );
            this.#send(stream, position, text, catchingUp);
          }
          break;
        }
        case 'todo-removed': {
          const text = message(position, 'todo-removed', {
            listId,
            activeCount,
            id: change.todoId,
            uid: change.todoUid,
          });
          for (const stream of targets(listId)) this.#send(stream, position, text, catchingUp);
          break;
        }
        case 'list':
          if (list) for (const stream of targets(listId)) this.#sendList(stream, position, list, catchingUp);
          break;
        case 'list-deleted': {
          const text = message(position, 'list-removed', { listId });
          const owners = only ? (only.userId === change.userId ? [only] : []) : [];
          for (const stream of new Set([...targets(listId), ...owners])) {
            this.#forget(stream, listId);
            this.#send(stream, position, text, catchingUp);
          }
          break;
        }
        case 'member': {
          const userId = change.userId!;
          const streams = only ? (only.userId === userId ? [only] : []) : [...(this.#byUser.get(userId) ?? [])];
          if (streams.length === 0) break;
          const role = list ? await access.roleInList(this.#db, userId, listId) : undefined;
          for (const stream of streams) {
            if (role && list) {
              if (!stream.lists.has(listId)) this.#index(stream, listId);
              stream.lists.set(listId, role);
              this.#sendList(stream, position, list, catchingUp);
            } else {
              this.#forget(stream, listId);
              this.#send(stream, position, message(position, 'list-removed', { listId }), catchingUp);
            }
          }
          break;
        }
      }
    }
  }

  #sendList(stream: Stream, position: Position, list: Omit<ListRecord, 'role'>, catchingUp: boolean): void {
    const role = stream.lists.get(list.id);
    if (!role) return;
    const text = message(position, 'list', { list: listJson({ ...list, role }, stream.base) });
    this.#send(stream, position, text, catchingUp);
  }

  #forget(stream: Stream, listId: number): void {
    if (!stream.lists.delete(listId)) return;
    this.#unindex(stream, listId);
  }
}
