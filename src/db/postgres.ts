// The server engine: PostgreSQL through postgres.js. A multi-host URL with
// target_session_attrs=primary lets the pool find the primary after a failover.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import type { Config } from '../config.ts';
import { observeFailures, trackStatement, type Database, type FailureObserver, type Queryable } from './database.ts';
import { backoffMs } from './retry.ts';

type Sql = postgres.Sql | postgres.TransactionSql;

/** `sent`: in a transaction, every statement's outcome, so that the transaction can wait for all of them. */
function wrap(sql: Sql, onFailure: FailureObserver, sent?: Promise<unknown>[]): Queryable {
  return {
    query<Row>(text: string, params: readonly unknown[] = []) {
      return trackStatement(
        observeFailures(
          sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true }),
          onFailure,
        ) as Promise<unknown> as Promise<Row[]>,
        sent,
      );
    },
    async execScript(text: string) {
      await observeFailures(sql.unsafe(text).simple(), onFailure);
    },
  };
}

// A connection that closes sooner than this after opening counts as a failed attempt.
const HEALTHY_AFTER_MS = 2000;

/**
 * Opens the pool's sockets, pausing before each attempt while attempts keep
 * failing. postgres.js itself reconnects at once, in a tight loop, when a
 * connection is closed during start-up — as HAProxy does while no server is
 * leader, and as postgres.js does to a standby when it wants a primary. With
 * its own socket it no longer picks hosts, so this also goes through the
 * URL's hosts in turn, staying with one while it works.
 */
function socketsWithBackoff() {
  let failures = 0;
  let next = 0;
  return async (options: { host: string[]; port: number[] }): Promise<net.Socket> => {
    if (failures > 0) await sleep(backoffMs(failures));
    const index = next % options.host.length;
    const socket = net.connect({ host: options.host[index], port: options.port[index] ?? 5432 });
    const openedAt = performance.now();
    socket.once('close', () => {
      if (performance.now() - openedAt >= HEALTHY_AFTER_MS) {
        failures = 0;
      } else {
        failures++;
        next = index + 1;
      }
    });
    return socket;
  };
}

/**
 * LISTEN on a connection of its own, made again (to the primary, by
 * target_session_attrs) each time it is lost, with backoff while that fails.
 * postgres.js's own `listen` retries once when its connection closes and then
 * drops the channel for good if the server is still away.
 */
function keepListening(
  connect: (onClose: () => void, onNotify: (channel: string, payload: string) => void) => postgres.Sql,
  channel: string,
  onNotify: (payload: string) => void,
  onListening: () => void,
) {
  let stopped = false;
  let lost = false;
  let running: Promise<void> | undefined;
  const sql = connect(
    () => {
      lost = true;
      listen();
    },
    (name, payload) => {
      if (name === channel) onNotify(payload);
    },
  );
  const statement = `LISTEN "${channel.replace(/"/g, '""')}"`;
  async function loop() {
    for (let failures = 0; !stopped;) {
      lost = false;
      try {
        await sql.unsafe(statement);
      } catch {
        failures++;
        await sleep(backoffMs(failures));
        continue;
      }
      if (stopped) return;
      if (!lost) {
        onListening();
        return;
      }
    }
  }
  function listen() {
    if (stopped || running) return running;
    running = loop().finally(() => (running = undefined));
    return running;
  }
  return {
    started: listen(),
    async stop() {
      stopped = true;
      await sql.end({ timeout: 1 });
    },
  };
}

export function openServerDatabase(
  url: string,
  options: Config['db'],
  onFailure: FailureObserver = () => {},
): Database {
  const settings = {
    connect_timeout: options.connectTimeoutSeconds,
    onnotice: () => {},
    // Seconds before a closed connection may reconnect. postgres.js's default
    // grows to 20 s after a few failures, which would leave requests waiting
    // long after a new primary is up. A connection reconnects only for a query,
    // and queries are paced by db/retry.ts (and connection attempts by
    // socketsWithBackoff), so no second delay is needed here.
    backoff: () => 0,
    connection: {
      application_name: 'todoapp',
      statement_timeout: options.statementTimeoutMs,
    },
  };
  const sql = postgres(url, {
    ...settings,
    max: options.poolSize,
    idle_timeout: 60,
    max_lifetime: 60 * 30,
    ...{ socket: socketsWithBackoff() }, // a documented option missing from postgres.js's types
  });
  const listeners = new Set<{ stop(): Promise<void> }>();
  return {
    engine: 'server',
    ...wrap(sql, onFailure),
    async transaction(work) {
      const sent: Promise<unknown>[] = [];
      const result = await sql.begin((tx) => work(wrap(tx, onFailure, sent)));
      // A statement the work did not wait for went out right before the COMMIT,
      // in the same write: if it failed, the server rolled back instead.
      await Promise.all(sent);
      return result as never;
    },
    async listen(channel, onNotify, onListening) {
      const connect = (onclose: () => void, onnotify: (name: string, payload: string) => void) =>
        postgres(url, {
          ...settings,
          max: 1,
          idle_timeout: 0, // never
          max_lifetime: 0,
          fetch_types: false,
          onclose,
          // documented options missing from postgres.js's types
          ...{ onnotify, socket: socketsWithBackoff() },
        });
      const listening = keepListening(connect, channel, onNotify, onListening);
      const handle = {
        stop: async () => {
          listeners.delete(handle);
          await listening.stop();
        },
      };
      listeners.add(handle);
      // Waits for the first LISTEN while the server answers; while it is away the loop goes on behind.
      await Promise.race([listening.started, sleep(options.connectTimeoutSeconds * 1000, undefined, { ref: false })]);
      return handle;
    },
    close: async () => {
      // postgres.js makes repeated calls of end() wait for the first
      await Promise.all([...listeners].map((listener) => listener.stop()));
      await sql.end({ timeout: 5 });
    },
  };
}
