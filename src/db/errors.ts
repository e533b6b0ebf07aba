// Telling a database that is away (connection refused or broken, server
// shutting down, a standby that cannot take writes) from a query that failed.
// The first is temporary — the client should retry — the second is a bug.

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  // postgres.js's own
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  // ours: no server answered within the request's retry budget (db/retry.ts)
  'DATABASE_WAIT_TIMEOUT',
]);

// SQLSTATEs: admin_shutdown, crash_shutdown, cannot_connect_now, read_only_sql_transaction.
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '25006']);

export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  // Class 08 is "connection exception".
  return CONNECTION_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08');
}

/** A unique index refused a row (SQLSTATE 23505); given a constraint, only that one. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const failure = error as { code?: unknown; constraint_name?: unknown; constraint?: unknown } | null;
  if (failure?.code !== '23505') return false;
  // postgres.js names it constraint_name, PGlite constraint.
  return constraint === undefined || (failure.constraint_name ?? failure.constraint) === constraint;
}

/**
 * The embedded database's folder is held by another process. It lives here,
 * not beside PGlite, so the command can recognise it without loading PGlite.
 */
export class DataDirInUseError extends Error {
  constructor(dataDir: string) {
    super(
      `The embedded database in ${dataDir} is in use by another todoapp process (a running server or CLI command). ` +
        'Stop that process first, or point DATA_DIR elsewhere. (A lock left by a process that died on this machine is taken over at once; one left on another machine expires after 10 seconds.)',
    );
    this.name = 'DataDirInUseError';
  }
}
