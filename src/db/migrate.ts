// Applies the numbered SQL files in migrations/ in order, each once, on either
// engine. Everything runs in one transaction holding an advisory lock, so when
// three processes migrate at once exactly one applies and the others wait,
// then find nothing left to do.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type { Database, Queryable } from './database.ts';

export const MIGRATIONS_DIR = new URL('../../migrations/', import.meta.url);

/** An arbitrary constant naming "todoapp migrations" among advisory locks. */
const MIGRATION_LOCK_KEY = 7_361_029_884;

export interface Migration {
  version: string;
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationStatus {
  applied: { version: string; name: string; appliedAt: Date }[];
  pending: Migration[];
  /**
   * Applied by a newer version of todoapp. Migrations only add (expand before
   * contract), so this version still works with them: during a rolling update
   * the old pods keep serving after the new release's migration ran.
   */
  newer: { version: string; name: string; appliedAt: Date }[];
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export async function loadMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((file) => /^\d{4}_[a-z0-9_]+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => {
      const sql = await readFile(new URL(file, dir), 'utf8');
      return {
        version: file.slice(0, 4),
        name: file.slice(5, -4),
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    }),
  );
}

interface AppliedRow {
  version: string;
  name: string;
  checksum: string;
  applied_at: Date;
}

async function readApplied(db: Queryable): Promise<AppliedRow[]> {
  const [exists] = await db.query<{ present: boolean }>(
    `SELECT to_regclass('schema_migrations') IS NOT NULL AS present`,
  );
  if (!exists?.present) return [];
  return db.query<AppliedRow>('SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version');
}

function compare(migrations: Migration[], applied: AppliedRow[]): MigrationStatus {
  const known = new Map(migrations.map((migration) => [migration.version, migration]));
  for (const row of applied) {
    const migration = known.get(row.version);
    if (migration && migration.checksum !== row.checksum) {
      throw new MigrationError(
        `Migration ${row.version}_${row.name} was changed after it was applied; restore the original file.`,
      );
    }
  }
  const done = new Set(applied.map((row) => row.version));
  const describe = (row: AppliedRow) => ({ version: row.version, name: row.name, appliedAt: row.applied_at });
  return {
    applied: applied.filter((row) => known.has(row.version)).map(describe),
    pending: migrations.filter((migration) => !done.has(migration.version)),
    newer: applied.filter((row) => !known.has(row.version)).map(describe),
  };
}

export async function migrationStatus(db: Queryable, migrations?: Migration[]): Promise<MigrationStatus> {
  return compare(migrations ?? (await loadMigrations()), await readApplied(db));
}

/** Applies every pending migration; returns the ones this call applied. */
export async function migrate(db: Database, migrations?: Migration[]): Promise<Migration[]> {
  const all = migrations ?? (await loadMigrations());
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.execScript(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version text PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const { pending, newer } = compare(all, await readApplied(tx));
    if (newer.length > 0) {
      // Applying older migrations around newer ones would be guesswork.
      throw new MigrationError(
        `The database has migration ${newer.map((m) => `${m.version}_${m.name}`).join(', ')}, which this version of todoapp does not know: run "todoapp migrate" from the newest version.`,
      );
    }
    for (const migration of pending) {
      try {
        await tx.execScript(migration.sql);
      } catch (error) {
        throw new MigrationError(
          `Migration ${migration.version}_${migration.name} failed: ${(error as Error).message}`,
        );
      }
      await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        migration.checksum,
      ]);
    }
    return pending;
  });
}
