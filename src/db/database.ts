// One database handle, two engines: PGlite embedded in the process, or a
// PostgreSQL server through postgres.js. Repositories only see `Queryable`,
// so they run unchanged on both.
import type { Config } from '../config.ts';
import { databaseErrors } from '../plugins/metrics.ts';
import { isDatabaseUnavailable } from './errors.ts';

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
  close(): Promise<void>;
}

export async function openDatabase(config: Config): Promise<Database> {
  if (config.database.kind === 'embedded') {
    const { openEmbeddedDatabase } = await import('./pglite.ts');
    return openEmbeddedDatabase(config.database.dataDir);
  }
  const { openServerDatabase } = await import('./postgres.ts');
  return openServerDatabase(config.database.url, config.db);
}

/** Counts failed database work in the metrics (db_query_errors_total), by kind. */
export async function countFailures<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    databaseErrors.inc({ kind: isDatabaseUnavailable(error) ? 'unavailable' : 'query' });
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
