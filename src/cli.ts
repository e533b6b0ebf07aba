// The `todoapp` command: serve | migrate [--status].
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { openDatabase } from './db/database.ts';
import { loadMigrations, migrate, MigrationError, migrationStatus } from './db/migrate.ts';
import { DataDirInUseError } from './db/pglite.ts';
import { serve, StartupError } from './server.ts';

const USAGE = `Usage: todoapp <command> [options]

Commands:
  serve              Serve the app (default port 8000)
  migrate            Apply pending database migrations
  migrate --status   List applied and pending migrations
  help               Show this help

Configuration comes from environment variables; see the README.`;

class UsageError extends Error {}

async function runMigrate(config: Config, args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { status: { type: 'boolean' } }, strict: true });
  const db = await openDatabase(config);
  try {
    const migrations = await loadMigrations();
    if (values.status) {
      const { applied, pending } = await migrationStatus(db, migrations);
      for (const m of applied) console.log(`applied  ${m.version}_${m.name}  ${m.appliedAt.toISOString()}`);
      for (const m of pending) console.log(`pending  ${m.version}_${m.name}`);
      console.log(`${applied.length} applied, ${pending.length} pending`);
      return;
    }
    const applied = await migrate(db, migrations);
    for (const m of applied) console.log(`applied  ${m.version}_${m.name}`);
    console.log(applied.length === 0 ? 'The database is up to date.' : `Applied ${applied.length} migration(s).`);
  } finally {
    await db.close();
  }
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
    if (error instanceof DataDirInUseError || error instanceof MigrationError || error instanceof StartupError) {
      console.error(error.message);
      return 1;
    }
    console.error(`todoapp ${command} failed: ${(error as Error).message}`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
