#!/bin/bash
# Runs once, when the primary's data directory is first made (the official
# image runs /docker-entrypoint-initdb.d/*): a replication user and a slot for
# the standby, and a pg_hba.conf line that lets the standby connect.
set -euo pipefail
psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set=password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SELECT pg_create_physical_replication_slot('standby1');
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
