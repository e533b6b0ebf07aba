// Configuration comes from the environment only, parsed and validated once at
// start. A wrong value stops the process with a message naming the variable.
import { readFileSync } from 'node:fs';
import path from 'node:path';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export type DatabaseConfig = { kind: 'embedded'; dataDir: string } | { kind: 'server'; url: string };

export interface Config {
  port: number;
  host: string;
  /** Port of the separate Prometheus listener (on `host`); 0 turns it off. Never the public port. */
  metricsPort: number;
  database: DatabaseConfig;
  dataDir: string;
  logLevel: LogLevel;
  debug: boolean;
  /** Host-header allow-list; entries are exact names, `.example.com` (domain and subdomains) or `*`. */
  allowedHosts: string[];
  /** PUBLIC_URL's origin (e.g. `https://todo.example.com`): absolute URLs and redirects are built on it instead of the request's Host. */
  publicUrl: string | undefined;
  /** Fastify's trustProxy: false, true, or a list of addresses/CIDRs (a hop count is refused: Fastify 5 would trust no proxy). */
  trustProxy: boolean | string[];
  migrateOnStart: boolean;
  /** Milliseconds a graceful shutdown waits for in-flight requests before exiting anyway. */
  shutdownTimeoutMs: number;
  /** Largest accepted request body, in bytes. */
  bodyLimit: number;
  /** Keys the hashes of session ids and API tokens. Required with a server database; on the embedded one, made once in DATA_DIR. */
  secretKey: string | undefined;
  registration: 'open' | 'closed';
  /** Origins allowed to call the API from a browser (CORS); none by default. */
  corsOrigins: string[];
  sessionTtlDays: number;
  /** How long the change log keeps a change: a client away longer gets a resync instead of the changes it missed. */
  changesRetentionDays: number;
  db: {
    poolSize: number;
    connectTimeoutSeconds: number;
    statementTimeoutMs: number;
    /** How long a request keeps retrying, or waiting for a primary, before it gets 503. */
    retryBudgetMs: number;
  };
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    expected: string,
  ) {
    super(`Invalid configuration: ${variable} ${expected}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads VAR, or the contents of the file named by VAR_FILE (for Kubernetes secrets). */
function readVariable(env: Env, name: string): string | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct !== undefined && direct !== '' && file) {
    throw new ConfigError(name, `and ${name}_FILE are both set; set only one`);
  }
  if (file) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch {
      throw new ConfigError(`${name}_FILE`, `must name a readable file (could not read ${file})`);
    }
  }
  return direct === '' ? undefined : direct;
}

function parseInteger(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = readVariable(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number from ${min} to ${max} (got "${raw}")`);
  const value = Number(raw);
  if (value < min || value > max)
    throw new ConfigError(name, `must be a whole number from ${min} to ${max} (got "${raw}")`);
  return value;
}

function parseBoolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = readVariable(env, name);
  if (raw === undefined) return fallback;
  const lowered = raw.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(lowered)) return true;
  if (['false', '0', 'no', 'off'].includes(lowered)) return false;
  throw new ConfigError(name, `must be true or false (got "${raw}")`);
}

function parseList(raw: string): string[] {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function parseLogLevel(env: Env): LogLevel {
  const raw = readVariable(env, 'LOG_LEVEL');
  if (raw === undefined) return 'info';
  const level = LOG_LEVELS.find((candidate) => candidate === raw.toLowerCase());
  if (!level) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')} (got "${raw}")`);
  return level;
}

function parseTrustProxy(env: Env): Config['trustProxy'] {
  const raw = readVariable(env, 'TRUST_PROXY');
  if (raw === undefined) return false;
  const lowered = raw.toLowerCase();
  if (lowered === 'true') return true;
  if (lowered === 'false') return false;
  // Fastify 5 takes a hop count but then trusts no proxy (it cannot tell the nearest hop from a client that sends enough).
  if (/^\d+$/.test(raw))
    throw new ConfigError(
      'TRUST_PROXY',
      `a hop count (${raw}) is not supported: name the proxies' addresses or CIDRs, e.g. 10.0.0.0/8`,
    );
  const entries = parseList(raw);
  const invalid = entries.find((entry) => !/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(entry));
  if (entries.length === 0 || invalid !== undefined) {
    throw new ConfigError('TRUST_PROXY', 'must be true, false, or a comma-separated list of proxy addresses/CIDRs');
  }
  return entries;
}

function parseAllowedHosts(env: Env): string[] {
  const raw = readVariable(env, 'ALLOWED_HOSTS');
  if (raw === undefined) return ['localhost', '127.0.0.1', '[::1]'];
  const hosts = parseList(raw).map((host) => host.toLowerCase());
  const invalid = hosts.find((host) => !/^(\*|\.?[a-z0-9.-]+|\[[0-9a-f:.]+\])$/.test(host));
  if (hosts.length === 0 || invalid !== undefined) {
    throw new ConfigError(
      'ALLOWED_HOSTS',
      'must be a comma-separated list of host names (e.g. "todo.example.com,.example.org" or "*")',
    );
  }
  return hosts;
}

function parsePublicUrl(env: Env): string | undefined {
  const raw = readVariable(env, 'PUBLIC_URL');
  if (raw === undefined) return undefined;
  const expected = `must be the origin clients reach this app at, like https://todo.example.com: http or https, no path, query or credentials (got "${raw}")`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('PUBLIC_URL', expected);
  }
  // WHATWG URL drops an empty "?" or "#": look at the text for those.
  const plain = url.pathname === '/' && !/[?#]/.test(raw) && url.username === '' && url.password === '';
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !plain) throw new ConfigError('PUBLIC_URL', expected);
  return url.origin;
}

/** Builds a connection URL from the old app's POSTGRES_* variables. */
function urlFromPostgresVariables(env: Env): string | undefined {
  const host = readVariable(env, 'POSTGRES_HOST');
  if (host === undefined) return undefined;
  const port = parseInteger(env, 'POSTGRES_PORT', 5432, 1, 65535);
  const user = readVariable(env, 'POSTGRES_USER') ?? 'postgres';
  const password = readVariable(env, 'POSTGRES_PASSWORD');
  const database = readVariable(env, 'POSTGRES_DB') ?? user;
  // A comma-separated POSTGRES_HOST lists several servers (primary and standbys).
  const hosts = parseList(host).map((name) => (name.includes(':') && !name.startsWith('[') ? name : `${name}:${port}`));
  const credentials = encodeURIComponent(user) + (password === undefined ? '' : `:${encodeURIComponent(password)}`);
  const attrs = hosts.length > 1 ? '?target_session_attrs=primary' : '';
  return `postgres://${credentials}@${hosts.join(',')}/${encodeURIComponent(database)}${attrs}`;
}

function parseDatabaseUrl(env: Env): string | undefined {
  const raw = readVariable(env, 'DATABASE_URL');
  if (raw === undefined) return undefined;
  if (!/^postgres(ql)?:\/\/[^/]*[^/]\/?/.test(raw)) {
    throw new ConfigError(
      'DATABASE_URL',
      'must be a postgres:// URL, e.g. postgres://user:password@db1:5432,db2:5432/todo?target_session_attrs=primary',
    );
  }
  return raw;
}

function parseSecretKey(env: Env, database: DatabaseConfig): string | undefined {
  const key = readVariable(env, 'SECRET_KEY');
  if (key === undefined && database.kind === 'server') {
    throw new ConfigError(
      'SECRET_KEY',
      'is required with a PostgreSQL server (at least 32 random characters, e.g. from `openssl rand -base64 48`), and must be the same on every replica',
    );
  }
  if (key !== undefined && key.length < 32)
    throw new ConfigError('SECRET_KEY', `must be at least 32 characters (got ${key.length})`);
  return key;
}

function parseRegistration(env: Env): Config['registration'] {
  const raw = readVariable(env, 'REGISTRATION') ?? 'open';
  if (raw !== 'open' && raw !== 'closed')
    throw new ConfigError('REGISTRATION', `must be open or closed (got "${raw}")`);
  return raw;
}

function parseCorsOrigins(env: Env): string[] {
  const origins = parseList(readVariable(env, 'CORS_ORIGINS') ?? '');
  const invalid = origins.find((origin) => !/^https?:\/\/[^/\s]+$/.test(origin));
  if (invalid !== undefined)
    throw new ConfigError(
      'CORS_ORIGINS',
      `must be a comma-separated list of origins like https://app.example.com (got "${invalid}")`,
    );
  return origins;
}

export function loadConfig(env: Env = process.env): Config {
  const dataDir = path.resolve(readVariable(env, 'DATA_DIR') ?? 'data');
  const databaseUrl = parseDatabaseUrl(env);
  const postgresUrl = urlFromPostgresVariables(env);
  if (databaseUrl !== undefined && postgresUrl !== undefined) {
    throw new ConfigError('DATABASE_URL', 'and POSTGRES_HOST are both set; use one way to name the database');
  }
  const port = parseInteger(env, 'PORT', 8000, 0, 65535);
  const metricsPort = parseInteger(env, 'METRICS_PORT', 9464, 0, 65535);
  if (metricsPort !== 0 && metricsPort === port)
    throw new ConfigError('METRICS_PORT', `must differ from PORT (both are ${port}); 0 turns the metrics listener off`);
  const serverUrl = databaseUrl ?? postgresUrl;
  const database: DatabaseConfig =
    serverUrl === undefined ? { kind: 'embedded', dataDir } : { kind: 'server', url: serverUrl };
  const publicUrl = parsePublicUrl(env);
  // The public origin's own name is always allowed: setting PUBLIC_URL alone must not make the app refuse it.
  const allowedHosts = parseAllowedHosts(env);
  const publicHost = publicUrl === undefined ? undefined : new URL(publicUrl).hostname;
  if (publicHost !== undefined && !allowedHosts.includes(publicHost)) allowedHosts.push(publicHost);
  return {
    port,
    host: readVariable(env, 'HOST') ?? '127.0.0.1',
    metricsPort,
    database,
    dataDir,
    logLevel: parseLogLevel(env),
    debug: parseBoolean(env, 'DEBUG', false),
    allowedHosts,
    publicUrl,
    trustProxy: parseTrustProxy(env),
    migrateOnStart: parseBoolean(env, 'MIGRATE_ON_START', false),
    shutdownTimeoutMs: parseInteger(env, 'SHUTDOWN_TIMEOUT_MS', 20_000, 0, 600_000),
    bodyLimit: parseInteger(env, 'BODY_LIMIT_BYTES', 64 * 1024, 1024, 10 * 1024 * 1024),
    secretKey: parseSecretKey(env, database),
    registration: parseRegistration(env),
    corsOrigins: parseCorsOrigins(env),
    sessionTtlDays: parseInteger(env, 'SESSION_TTL_DAYS', 30, 1, 3650),
    changesRetentionDays: parseInteger(env, 'CHANGES_RETENTION_DAYS', 30, 1, 3650),
    db: {
      poolSize: parseInteger(env, 'DB_POOL_SIZE', 10, 1, 1000),
      connectTimeoutSeconds: parseInteger(env, 'DB_CONNECT_TIMEOUT_S', 5, 1, 600),
      statementTimeoutMs: parseInteger(env, 'DB_STATEMENT_TIMEOUT_MS', 10_000, 0, 3_600_000),
      retryBudgetMs: parseInteger(env, 'DB_RETRY_BUDGET_MS', 15_000, 0, 600_000),
    },
  };
}
