// The server engine: PostgreSQL through postgres.js. A multi-host URL with
// target_session_attrs=primary lets the pool find the primary after a failover.
import postgres from 'postgres';
import type { Config } from '../config.ts';
import { countFailures, type Database, type Queryable } from './database.ts';

type Sql = postgres.Sql | postgres.TransactionSql;

function wrap(sql: Sql): Queryable {
  return {
    async query<Row>(text: string, params: readonly unknown[] = []) {
      const rows = await countFailures(sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true }));
      return rows as unknown as Row[];
    },
    async execScript(text: string) {
      await countFailures(sql.unsafe(text).simple());
    },
  };
}

export function openServerDatabase(url: string, options: Config['db']): Database {
  const sql = postgres(url, {
    max: options.poolSize,
    connect_timeout: options.connectTimeoutSeconds,
    idle_timeout: 60,
    max_lifetime: 60 * 30,
    onnotice: () => {},
    connection: {
      application_name: 'todoapp',
      statement_timeout: options.statementTimeoutMs,
    },
  });
  return {
    engine: 'server',
    ...wrap(sql),
    transaction: (work) => sql.begin((tx) => work(wrap(tx))) as Promise<never>,
    close: () => sql.end({ timeout: 5 }), // postgres.js makes repeated calls wait for the first
  };
}
