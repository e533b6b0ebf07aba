#!/bin/bash
# The standby's start. On first start (empty data directory) it clones the
# primary with pg_basebackup -R, which also writes what makes this server a
# standby streaming from the primary (standby.signal and primary_conninfo in
# postgresql.auto.conf); then it runs PostgreSQL in the foreground.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_basebackup --host="$PRIMARY_HOST" --username=replicator --pgdata="$PGDATA" \
    --write-recovery-conf --wal-method=stream --slot=standby1 --checkpoint=fast; do
    echo "standby: the primary is not ready yet; trying again"
    rm -rf "${PGDATA:?}"/*
    sleep 2
  done
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on
