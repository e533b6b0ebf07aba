// The `todoapp` command: serve, migrate, and the account chores a Kubernetes Job can run.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { openDatabase, type Database } from './db/database.ts';
import { hashPassword, passwordProblem } from './features/accounts/passwords.ts';
import { tokensRepository, UsernameTakenError, usersRepository } from './features/accounts/repository.ts';
import { keyedHash, newSecret } from './plugins/auth.ts';
import { resolveSecretKey } from './secret-key.ts';
import { loadMigrations, migrate, MigrationError, migrationStatus } from './db/migrate.ts';
import { DataDirInUseError, isDatabaseUnavailable } from './db/errors.ts';
import { detailsHiddenHint, formatBytes, readReplicationStatus } from './db/replication.ts';
import { serve, StartupError } from './server.ts';
import { countDatabaseFailure } from './plugins/metrics.ts';
import { BackupError, exportEmbedded, importEmbedded, type BackupSummary } from './backup.ts';

const USAGE = `Usage: todoapp <command> [options]

Commands:
  serve              Serve the app (default port 8000)
  migrate            Apply pending database migrations
  migrate --status   List applied and pending migrations
  createsuperuser --username NAME
                     Create an admin account; the password is read from
                     TODOAPP_PASSWORD or standard input
  create-token --username NAME [--name LABEL]
                     Create a personal API token and print it (only once)
  assign-legacy --username NAME
                     Give the todos taken over from the old app to NAME
  replication-status Show the server connected to (primary or standby) and
                     the standbys streaming from it
  export-data --out FILE
                     Copy the embedded database (DATA_DIR) into FILE: from
                     the server running on it, or with no server running
  import-data --from FILE
                     Restore an export into DATA_DIR, a new, empty folder,
                     with no server running on it
  help               Show this help

Configuration comes from environment variables; see the README.`;

class UsageError extends Error {}
/** A failure the operator can act on: printed as it is, exit 1. */
class CommandError extends Error {}

async function runMigrate(config: Config, args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { status: { type: 'boolean' } }, strict: true });
  const migrations = await loadMigrations();
  await withDatabase(config, async (db) => {
    if (values.status) {
      const { applied, pending, newer } = await migrationStatus(db, migrations);
      for (const m of applied) console.log(`applied  ${m.version}_${m.name}  ${m.appliedAt.toISOString()}`);
      for (const m of pending) console.log(`pending  ${m.version}_${m.name}`);
      for (const m of newer)
        console.log(`newer    ${m.version}_${m.name}  ${m.appliedAt.toISOString()}  (from a newer version of todoapp)`);
      console.log(
        `${applied.length} applied, ${pending.length} pending${newer.length > 0 ? `, ${newer.length} from a newer version` : ''}`,
      );
      return;
    }
    const applied = await migrate(db, migrations);
    for (const m of applied) console.log(`applied  ${m.version}_${m.name}`);
    console.log(applied.length === 0 ? 'The database is up to date.' : `Applied ${applied.length} migration(s).`);
  });
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) {
    process.stderr.write('Password: ');
  }
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  return input.replace(/\r?\n$/, '');
}

function requiredUsername(args: string[], extra: Record<string, { type: 'string' }> = {}) {
  const { values } = parseArgs({ args, options: { username: { type: 'string' }, ...extra }, strict: true });
  if (!values.username) throw new UsageError('--username NAME is required.');
  return values as { username: string } & Record<string, string | undefined>;
}

/** Runs `work` with the database open, closing it afterwards. */
async function withDatabase<T>(config: Config, work: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(config, countDatabaseFailure);
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

/**
 * Like withDatabase, for work on the app's tables. The embedded database
 * belongs to whoever holds its folder, so it migrates itself first, exactly
 * as `serve` does; a server's schema is the operator's to migrate.
 */
async function withCurrentSchema<T>(config: Config, work: (db: Database) => Promise<T>): Promise<T> {
  const migrations = await loadMigrations();
  return withDatabase(config, async (db) => {
    if (config.database.kind === 'embedded') {
      await migrate(db, migrations);
    } else {
      const { pending } = await migrationStatus(db, migrations);
      if (pending.length > 0)
        throw new CommandError(
          `The database schema is behind: ${pending.length} migration(s) pending. Run "todoapp migrate" first; nothing was changed.`,
        );
    }
    return work(db);
  });
}

/** SQLSTATE classes 00–5x, F0, HV, P0 and XX: a database's own error, not Node's. */
const SQLSTATE = /^([0-5][0-9A-Z]|F0|HV|P0|XX)[0-9A-Z]{3}$/;

/**
 * One line a person can act on for a database failure. The driver's own text
 * (SQL, relation names, internals) stays out: it helps no one at a terminal.
 */
function databaseFailure(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (isDatabaseUnavailable(error)) {
    return `could not reach the database (${String(code)}); check DATABASE_URL or POSTGRES_HOST and that the server is running`;
  }
  if (typeof code !== 'string' || !SQLSTATE.test(code)) return undefined;
  if (code.startsWith('28'))
    return `the database refused the user name or password (SQLSTATE ${code}); check the credentials in DATABASE_URL or POSTGRES_USER/POSTGRES_PASSWORD`;
  if (code === '3D000') return `the database named in DATABASE_URL or POSTGRES_DB does not exist (SQLSTATE ${code})`;
  if (code === '42501') return `the database user lacks a permission this needs (SQLSTATE ${code})`;
  if (code === '42P01' || code === '42703')
    return `the database schema is not what this version of todoapp expects (SQLSTATE ${code}); run "todoapp migrate"`;
  return `the database refused the operation (SQLSTATE ${code})`;
}

async function findUser(db: Database, username: string) {
  const user = await usersRepository.findByUsername(db, username);
  if (!user) throw new CommandError(`No user named "${username}".`);
  return user;
}

async function runCreateSuperuser(config: Config, args: string[]): Promise<void> {
  const { username } = requiredUsername(args);
  if (!/^[A-Za-z0-9_.-]{1,50}$/.test(username))
    throw new CommandError('The username must be 1–50 letters, digits, dots, dashes or underscores.');
  const password = process.env.TODOAPP_PASSWORD ?? (await readStdin());
  const problem = await passwordProblem(password, username);
  if (problem) throw new CommandError(`The password ${problem}.`);
  await withCurrentSchema(config, async (db) => {
    try {
      await usersRepository.create(db, { username, passwordHash: await hashPassword(password), admin: true });
    } catch (error) {
      if (error instanceof UsernameTakenError)
        throw new CommandError(`A user named "${username}" already exists; nothing was changed.`);
      throw error;
    }
  });
  console.log(`Created admin "${username}".`);
}

async function runCreateToken(config: Config, args: string[]): Promise<void> {
  const { username, name } = requiredUsername(args, { name: { type: 'string' } });
  const secretKey = await resolveSecretKey(config);
  const token = newSecret();
  await withCurrentSchema(config, async (db) => {
    const user = await findUser(db, username);
    await tokensRepository.create(db, user.id, name ?? '', keyedHash(secretKey, token));
  });
  console.error(`Created an API token for "${username}". It is shown only now:`);
  console.log(token);
}

async function runAssignLegacy(config: Config, args: string[]): Promise<void> {
  const { username } = requiredUsername(args);
  const moved = await withCurrentSchema(config, async (db) =>
    usersRepository.assignLegacyTodos(db, (await findUser(db, username)).id),
  );
  console.log(`Gave ${moved} todo(s) taken over from the old app to "${username}".`);
}

/** Columns padded to their widest cell, two spaces apart. */
function table(rows: string[][]): string {
  const widths = rows[0]?.map((_cell, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

async function runReplicationStatus(config: Config, args: string[]): Promise<void> {
  parseArgs({ args, options: {}, strict: true });
  if (config.database.kind === 'embedded') {
    console.log(
      'The embedded database (PGlite in DATA_DIR) has no replication: replication-status applies to a PostgreSQL server (DATABASE_URL or POSTGRES_HOST).',
    );
    return;
  }
  const { server, standbys } = await withDatabase(config, readReplicationStatus);
  const where = server.address === null ? 'a local socket' : `${server.address}:${server.port}`;
  console.log(
    `Connected to ${where}, PostgreSQL ${server.version}: ${server.isPrimary ? 'the primary' : 'a standby (in recovery), not the primary'}.`,
  );
  if (standbys.length === 0) {
    console.log(`No standbys are streaming from it${server.isPrimary ? ': a failover would have nowhere to go' : ''}.`);
    return;
  }
  console.log(`Standbys streaming from it (pg_stat_replication): ${standbys.length}`);
  const unknown = (value: string | null) => value ?? 'unknown';
  console.log(
    table([
      ['APPLICATION', 'CLIENT', 'STATE', 'SYNC', 'WRITE LAG', 'FLUSH LAG', 'REPLAY LAG', 'REPLAY LAG TIME'],
      ...standbys.map((standby) => [
        unknown(standby.applicationName),
        unknown(standby.clientAddress),
        unknown(standby.state),
        unknown(standby.syncState),
        formatBytes(standby.writeLagBytes),
        formatBytes(standby.flushLagBytes),
        formatBytes(standby.replayLagBytes),
        standby.replayLag ?? (server.detailsVisible ? '-' : 'unknown'),
      ]),
    ]),
  );
  if (!server.detailsVisible) console.log(detailsHiddenHint(server.role));
}

/** The embedded database's file: see src/backup.ts and docs/backups.md. */
async function runExportOrImport(config: Config, command: 'export-data' | 'import-data', args: string[]) {
  const option = command === 'export-data' ? 'out' : 'from';
  const { values } = parseArgs({ args, options: { [option]: { type: 'string' } }, strict: true });
  const file = values[option];
  if (typeof file !== 'string' || file === '') throw new UsageError(`--${option} FILE is required.`);
  if (config.database.kind !== 'embedded')
    throw new CommandError(
      `${command} works on the embedded database (DATA_DIR); a PostgreSQL server is backed up with its own tools (Barman Cloud, pg_dump): see docs/backups.md.`,
    );
  const { dataDir } = config.database;
  const done: BackupSummary =
    command === 'export-data' ? await exportEmbedded(dataDir, file) : await importEmbedded(file, dataDir);
  const what = `${done.todos} todo(s) of ${done.users} user(s)`;
  const size = `${(done.bytes / 1024 / 1024).toFixed(1)} MB`;
  const time = `${(done.ms / 1000).toFixed(1)} s`;
  console.log(
    command === 'export-data'
      ? `Exported ${what} from ${dataDir}${done.fromRunningServer ? ' (the running server)' : ''} to ${done.file} (${size}, ${time}).`
      : `Imported ${what} from ${done.file} into ${dataDir} (${time}). Start the server on it: todoapp serve.`,
  );
}

export async function main(argv: string[]): Promise<number> {
  const [command = 'help', ...args] = argv;
  try {
    if (command === 'help' || command === '--help' || command === '-h') {
      console.log(USAGE);
      return 0;
    }
    const config = loadConfig();
    switch (command) {
      case 'serve':
        await serve(config);
        return -1; // keeps running until a signal
      case 'migrate':
        await runMigrate(config, args);
        return 0;
      case 'createsuperuser':
        await runCreateSuperuser(config, args);
        return 0;
      case 'create-token':
        await runCreateToken(config, args);
        return 0;
      case 'assign-legacy':
        await runAssignLegacy(config, args);
        return 0;
      case 'replication-status':
        await runReplicationStatus(config, args);
        return 0;
      case 'export-data':
      case 'import-data':
        await runExportOrImport(config, command, args);
        return 0;
      default:
        throw new UsageError(`Unknown command "${command}".`);
    }
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    if (
      error instanceof DataDirInUseError ||
      error instanceof MigrationError ||
      error instanceof StartupError ||
      error instanceof CommandError ||
      error instanceof BackupError
    ) {
      console.error(error.message);
      return 1;
    }
    // Never a stack: one line, and for a database error not even its text.
    const message = databaseFailure(error) ?? (error instanceof Error ? error.message : String(error));
    console.error(`todoapp ${command} failed: ${(message.split('\n')[0] ?? '').replace(/\.$/, '')}.`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
