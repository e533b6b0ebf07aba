// One database handle, two engines: PGlite embedded in the process, or a
// PostgreSQL server through postgres.js. Repositories only see `Queryable`,
// so they run unchanged on both.
import type { Config } from '../config.ts';
import { isDatabaseUnavailable } from './errors.ts';

/**
 * Told of every statement that failed, and whether the database was away
 * (`unavailable`) or refused the statement (`query`). The app counts them in
 * its metrics (plugins/metrics.ts); this layer knows nothing above it.
 */
export type FailureObserver = (kind: 'unavailable' | 'query') => void;

export interface Queryable {
  /** Runs one parameterised statement ($1, $2, …) and returns its rows. */
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs a script of several statements without parameters (migrations). */
  execScript(text: string): Promise<void>;
}

export interface Database extends Queryable {
  readonly engine: 'embedded' | 'server';
  /**
   * Runs `work` in one transaction: committed when it resolves, rolled back
   * when it throws. A statement `work` sends without waiting for its result
   * still belongs to the transaction, which commits only if it succeeds too;
   * on a server it goes out together with the COMMIT (one round trip less).
   */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Calls `onNotify` with its payload for every NOTIFY on `channel` after it commits, from any
   * process on the server (or this process, embedded), and `onListening`
   * each time the listening starts: at first and, on a server, after its
   * connection was lost and made again (a failover) — notifications sent
   * meanwhile are lost, so a listener catches up then.
   */
  listen(
    channel: string,
    onNotify: (payload: string) => void,
    onListening: () => void,
  ): Promise<{ stop(): Promise<void> }>;
  /**
   * The embedded engine only: runs `work` while no other statement runs and
   * no transaction is open, so the database's files change only by `work`'s
   * own statements — a copy of them read meanwhile is consistent, the state a
   * crash at that instant would leave, which PostgreSQL recovers from
   * (src/backup-socket.ts copies them with tar).
   */
  holdStill?<T>(work: (db: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function openDatabase(config: Config, onFailure: FailureObserver = () => {}): Promise<Database> {
  if (config.database.kind === 'embedded') {
    const { openEmbeddedDatabase } = await import('./pglite.ts');
    return openEmbeddedDatabase(config.database.dataDir, onFailure);
  }
  const { openServerDatabase } = await import('./postgres.ts');
  return openServerDatabase(config.database.url, config.db, onFailure);
}

/** `work`, with its failure (if any) told to `onFailure` by kind. */
export async function observeFailures<T>(work: Promise<T>, onFailure: FailureObserver): Promise<T> {
  try {
    return await work;
  } catch (error) {
    onFailure(isDatabaseUnavailable(error) ? 'unavailable' : 'query');
    throw error;
  }
}

/**
 * In a transaction (`sent` given), remembers a statement's outcome so the
 * transaction can wait for it and fail with it, even when the work did not
 * await it. Its rejection is then reported by the transaction, not here.
 */
export function trackStatement<T>(result: Promise<T>, sent: Promise<unknown>[] | undefined): Promise<T> {
  if (sent) {
    sent.push(result);
    result.catch(() => {});
  }
  return result;
}
