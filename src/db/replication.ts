// Which PostgreSQL server the app is connected to, whether it is the primary,
// and the standbys streaming from it (pg_stat_replication): shown by
// `todoapp replication-status` and the admin page /admin/replication.
//
// A role without pg_monitor (or pg_read_all_stats) sees only the pid and
// application_name of other roles' rows in pg_stat_replication: state, LSNs
// and lag come back NULL. So every detail here may be null, and
// `detailsVisible` says whether that is for lack of rights.
import type { Queryable } from './database.ts';

export interface ServerStatus {
  /** The address and port the session is connected to (null over a Unix socket). */
  address: string | null;
  port: number | null;
  version: string;
  /** False while the server is in recovery, i.e. a standby. */
  isPrimary: boolean;
  /** The role the app connects as, quoted for SQL where needed. */
  role: string;
  /** Whether this role may see other roles' replication details (superuser, pg_monitor or pg_read_all_stats). */
  detailsVisible: boolean;
}

export interface StandbyStatus {
  applicationName: string | null;
  clientAddress: string | null;
  /** startup, catchup, streaming, backup or stopping. */
  state: string | null;
  /** async, potential, sync or quorum. */
  syncState: string | null;
  /** How far the standby's written, flushed and replayed WAL trail this server's current WAL position, in bytes. */
  writeLagBytes: number | null;
  flushLagBytes: number | null;
  replayLagBytes: number | null;
  /** PostgreSQL's own replay_lag interval, as text (null when idle: no recent WAL to measure). */
  replayLag: string | null;
}

export interface ReplicationStatus {
  server: ServerStatus;
  standbys: StandbyStatus[];
}

// CASE evaluates lazily: pg_current_wal_lsn() would fail on a standby, which measures
// its own cascaded standbys against the WAL it has replayed.
const SERVER_SQL = `SELECT host(inet_server_addr()) AS address, inet_server_port() AS port,
  current_setting('server_version') AS version, NOT pg_is_in_recovery() AS "isPrimary", quote_ident(current_user) AS role,
  pg_has_role('pg_read_all_stats', 'USAGE') AS "detailsVisible"`;

const STANDBYS_SQL = `WITH here AS (
  SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS lsn
)
SELECT r.application_name AS "applicationName", host(r.client_addr) AS "clientAddress",
  r.state, r.sync_state AS "syncState",
  pg_wal_lsn_diff(here.lsn, r.write_lsn)::float8 AS "writeLagBytes",
  pg_wal_lsn_diff(here.lsn, r.flush_lsn)::float8 AS "flushLagBytes",
  pg_wal_lsn_diff(here.lsn, r.replay_lsn)::float8 AS "replayLagBytes",
  r.replay_lag::text AS "replayLag"
FROM pg_stat_replication r CROSS JOIN here
ORDER BY r.application_name, r.pid`;

export async function readReplicationStatus(db: Queryable): Promise<ReplicationStatus> {
  const [server] = await db.query<ServerStatus>(SERVER_SQL);
  if (!server) throw new Error('The server returned no status row');
  const standbys = await db.query<StandbyStatus>(STANDBYS_SQL);
  return { server, standbys };
}

/** "1.5 MB"-style sizes for the lag columns; "unknown" when hidden. */
export function formatBytes(bytes: number | null): string {
  if (bytes === null) return 'unknown';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** What an operator needs to do so that the role sees the details it is not allowed to. */
export function detailsHiddenHint(role: string): string {
  return `The database role ${role} may not see the standbys’ replication details (they show as unknown). Grant it pg_monitor: GRANT pg_monitor TO ${role};`;
}
