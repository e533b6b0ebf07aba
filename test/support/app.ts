// Starts the real app on a real port against a real database engine, so
// tests talk HTTP to it exactly as clients do.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp, type RouteEntry } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { openDatabase, type Database } from '../../src/db/database.ts';
import { loadMigrations, migrate } from '../../src/db/migrate.ts';
import { hashPassword } from '../../src/features/accounts/passwords.ts';
import { tokensRepository, usersRepository } from '../../src/features/accounts/repository.ts';
import { keyedHash, newSecret } from '../../src/plugins/auth.ts';
import { resolveSecretKey } from '../../src/secret-key.ts';
import { BrowserSession } from './browser.ts';
import { pickFreePort } from './ports.ts';
import { createTestDatabase } from './postgres.ts';
import { countDatabaseFailure } from '../../src/plugins/metrics.ts';

export const TEST_SECRET_KEY = 'a-test-secret-key-that-is-long-enough-0123456789';

export type EngineName = 'pglite' | 'postgres';
export const ENGINES: EngineName[] = ['pglite', 'postgres'];

export interface TestDatabase {
  /** Environment naming this database, as an operator would set it. */
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

/** A fresh, empty database on the given engine (nothing migrated). */
export async function freshDatabase(engine: EngineName): Promise<TestDatabase> {
  if (engine === 'pglite') {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'todoapp-test-'));
    return { env: { DATA_DIR: dataDir }, cleanup: () => rm(dataDir, { recursive: true, force: true }) };
  }
  const database = await createTestDatabase();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'todoapp-test-'));
  return {
    env: { DATABASE_URL: database.url, DATA_DIR: dataDir, SECRET_KEY: TEST_SECRET_KEY },
    cleanup: async () => {
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A todo as the API answers it: the type of the app's own Todo schema. */
export type { TodoJson } from '../../src/features/todos/schemas.ts';

export interface TestUser {
  id: number;
  username: string;
  password: string;
  /** A personal API token of this user. */
  token: string;
  /** Their Inbox's list id. */
  inboxId: number;
}

export interface TestApp {
  engine: EngineName;
  baseUrl: string;
  config: Config;
  db: Database;
  /** The first user (an admin), whose token `request` sends unless told otherwise. */
  alice: TestUser;
  createUser(username: string, options?: { admin?: boolean }): Promise<TestUser>;
  /** A browser logged in as this user through the real log-in form. */
  browserFor(user: TestUser): Promise<BrowserSession>;
  /** fetch relative to the app as alice (or without credentials when init sets `anonymous`, or its own Authorization). */
  request(pathname: string, init?: RequestInit & { json?: unknown; anonymous?: boolean }): Promise<Response>;
  /** The app itself (e.g. its change feed). */
  app: FastifyInstance;
  /** Every route the app serves (app.routeTable). */
  routes: readonly RouteEntry[];
  beginShutdown(): void;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Run migrations before serving (default true). */
  migrate?: boolean;
  /** `env` already names a database (from freshDatabase); use it instead of a new one, and leave its cleanup to the caller. */
  reuseDatabase?: boolean;
}

export async function startTestApp(
  engine: EngineName,
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<TestApp> {
  const database = options.reuseDatabase ? { env: {}, cleanup: async () => {} } : await freshDatabase(engine);
  const config = loadConfig({ LOG_LEVEL: 'silent', ...database.env, ...env });
  const db = await openDatabase(config, countDatabaseFailure);
  const migrations = await loadMigrations();
  if (options.migrate !== false) await migrate(db, migrations);
  const secretKey = await resolveSecretKey(config);
  const app = await buildApp({ config, db, migrations, secretKey, logger: false });
  const createUser = async (username: string, userOptions: { admin?: boolean } = {}): Promise<TestUser> => {
    const password = `${username}-password-for-tests`;
    const user = await usersRepository.create(db, {
      username,
      passwordHash: await hashPassword(password),
      admin: userOptions.admin,
    });
    const token = newSecret();
    await tokensRepository.create(db, user.id, 'tests', keyedHash(secretKey, token));
    return { id: user.id, username, password, token, inboxId: user.inboxId };
  };
  const alice =
    options.migrate === false
      ? { id: 0, username: 'alice', password: '', token: 'none-before-migrations', inboxId: 0 }
      : await createUser('alice', { admin: true });
  const port = await pickFreePort();
  await app.listen({ host: '127.0.0.1', port });
  const baseUrl = `http://localhost:${port}`;
  return {
    engine,
    baseUrl,
    config,
    db,
    alice,
    createUser,
    async browserFor(user) {
      const browser = new BrowserSession(baseUrl);
      await browser.logIn(user.username, user.password);
      return browser;
    },
    request(pathname, init = {}) {
      const { json, anonymous, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (!anonymous && !headers.has('authorization')) headers.set('authorization', `Bearer ${alice.token}`);
      if (json !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
      return fetch(new URL(pathname, baseUrl), {
        ...rest,
        headers,
        body: json === undefined ? rest.body : JSON.stringify(json),
      });
    },
    app,
    routes: app.routeTable,
    beginShutdown: () => app.beginShutdown(),
    async close() {
      await app.close();
      await db.close();
      await database.cleanup();
    },
  };
}
