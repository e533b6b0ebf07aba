// Riding through a failover. While the primary is away (killed, restarting,
// or a standby not yet promoted) database work fails fast with a connection
// error, or waits for a primary that does not exist yet. Requests retry the
// first kind with backoff and bound the second, both within one budget
// (DB_RETRY_BUDGET_MS); only then does the client get 503 + Retry-After.
//
// Only work that is safe to repeat is retried: reads (SELECT, or statements
// starting with the comment `/* repeatable */`), and writes made through the
// idempotency records in plugins/idempotency.ts. Anything else is
// tried once, but still never waits longer than the budget.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database, Queryable } from './database.ts';
import { isDatabaseUnavailable } from './errors.ts';

const FIRST_PAUSE_MS = 25;
// Short enough that a request notices a newly promoted primary a fraction of a
// second after it takes writes; long enough that hundreds of waiting requests
// do not flood the server (or HAProxy) with connection attempts.
const LONGEST_PAUSE_MS = 250;

/** The pause before attempt `failures + 1`: exponential, capped, with jitter so clients do not retry in step. */
export function backoffMs(failures: number): number {
  return Math.min(LONGEST_PAUSE_MS, FIRST_PAUSE_MS * 2 ** failures) * (0.5 + Math.random() / 2);
}

/** The database did not answer within the request's budget (counted as "unavailable": 503). */
export class DatabaseWaitTimeout extends Error {
  readonly code = 'DATABASE_WAIT_TIMEOUT';
  constructor(budgetMs: number) {
    super(`no usable database server within ${budgetMs} ms`);
    this.name = 'DatabaseWaitTimeout';
  }
}

/**
 * Settles with `work` or, when it is still pending at `deadline`, rejects with
 * DatabaseWaitTimeout. The abandoned work goes on and its outcome is dropped:
 * postgres.js cannot safely cancel a query that waits for a connection (the
 * pool slot jams), so waiting is bounded here instead.
 */
function beforeDeadline<T>(work: Promise<T>, deadline: number, budgetMs: number): Promise<T> {
  if (budgetMs === 0) return work; // DB_RETRY_BUDGET_MS=0: no retries, and no bound beyond the connect and statement timeouts
  const remaining = deadline - performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new DatabaseWaitTimeout(budgetMs)), Math.max(0, remaining));
  });
  work.catch(() => {}); // its failure after the deadline is nobody's to handle
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs `attempt` until it succeeds, fails for a reason other than the database
 * being away, or the budget runs out (then the last error is thrown).
 */
export async function retryWhileUnavailable<T>(attempt: () => Promise<T>, budgetMs: number): Promise<T> {
  const deadline = performance.now() + budgetMs;
  for (let tries = 0; ; tries++) {
    try {
      return await beforeDeadline(attempt(), deadline, budgetMs);
    } catch (error) {
      if (!isDatabaseUnavailable(error) || error instanceof DatabaseWaitTimeout) throw error;
      const pause = backoffMs(tries + 1);
      if (performance.now() + pause >= deadline) throw error;
      await sleep(pause);
    }
  }
}

/** Tries once, but gives up waiting when the budget runs out. */
export function onceWithinBudget<T>(attempt: () => Promise<T>, budgetMs: number): Promise<T> {
  return beforeDeadline(attempt(), performance.now() + budgetMs, budgetMs);
}

/** A SELECT, or a statement that says it is safe to repeat (e.g. one that only refreshes a timestamp). */
const REPEATABLE = /^\s*(select\b|\/\* repeatable \*\/)/i;

/**
 * The database as request handlers see it: reads (and statements marked
 * repeatable) are retried while the server is away; other statements and
 * transactions run once, within the budget.
 */
export function withRetries(db: Database, budgetMs: number): Database {
  const query: Queryable['query'] = (text, params) =>
    REPEATABLE.test(text)
      ? retryWhileUnavailable(() => db.query(text, params), budgetMs)
      : onceWithinBudget(() => db.query(text, params), budgetMs);
  return {
    engine: db.engine,
    query: query as Database['query'],
    execScript: (text) => onceWithinBudget(() => db.execScript(text), budgetMs),
    transaction: (work) => onceWithinBudget(() => db.transaction(work), budgetMs),
    listen: (channel, onNotify, onListening) => db.listen(channel, onNotify, onListening),
    close: () => db.close(),
  };
}
