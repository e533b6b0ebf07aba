#!/usr/bin/env bash
# STAND-IN, for tests only: the entry point of test/deploy/containers/postgres.Containerfile,
# which stands in for the official `postgres` image (no registry is reachable where the tests
# run). Written from the official image's documented behaviour, not copied from it:
#
#   POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER
#   (default postgres), POSTGRES_DB (default: the user), POSTGRES_INITDB_ARGS,
#   POSTGRES_INITDB_WALDIR, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256), each of the first
#   four also as a *_FILE variant naming a file that holds the value; PGDATA; on an empty data
#   directory only: initdb, a temporary server on the Unix socket alone, POSTGRES_DB created,
#   then /docker-entrypoint-initdb.d/* in name order (*.sh run when executable, sourced
#   otherwise; *.sql, *.sql.gz, *.sql.xz, *.sql.zst through psql), then the server stopped
#   and `exec "$@"`. Started as root with `postgres …` it drops to the postgres user (setpriv,
#   where the official image uses gosu); a first argument starting with "-" means `postgres …`.
#
# What it leaves unproven is listed in test/deploy/containers/README.md.
set -Eeo pipefail

# file_env VAR [DEFAULT]: VAR from itself or from the file VAR_FILE names, never both.
file_env() {
  local var="$1" file_var="${1}_FILE" default="${2:-}" value
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    echo >&2 "error: both $var and $file_var are set (but are exclusive)"
    exit 1
  fi
  value="$default"
  if [ -n "${!var:-}" ]; then
    value="${!var}"
  elif [ -n "${!file_var:-}" ]; then
    value="$(<"${!file_var}")"
  fi
  export "$var"="$value"
  unset "$file_var"
}

run_initdb_scripts() {
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then
          echo "$0: running $f"
          "$f"
        else
          echo "$0: sourcing $f"
          # shellcheck disable=SC1090
          . "$f"
        fi
        ;;
      *.sql) echo "$0: running $f" && psql_init -f "$f" ;;
      *.sql.gz) echo "$0: running $f" && gunzip -c "$f" | psql_init ;;
      *.sql.xz) echo "$0: running $f" && xzcat "$f" | psql_init ;;
      *.sql.zst) echo "$0: running $f" && zstd -dc "$f" | psql_init ;;
      *) echo "$0: ignoring $f" ;;
    esac
  done
}

psql_init() {
  psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --dbname "$POSTGRES_DB" "$@"
}

if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi

if [ "$1" = 'postgres' ] && [ "$(id -u)" = '0' ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  chmod 3775 /var/run/postgresql
  if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
    mkdir -p "$POSTGRES_INITDB_WALDIR"
    chown postgres:postgres "$POSTGRES_INITDB_WALDIR"
  fi
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" = 'postgres' ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  auth_method="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth_method" != 'trust' ]; then
    echo >&2 'error: database is uninitialized and superuser password is not specified.'
    echo >&2 '  Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE), or POSTGRES_HOST_AUTH_METHOD=trust.'
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  waldir=()
  if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then waldir=(--waldir "$POSTGRES_INITDB_WALDIR"); fi
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words, as in the official image
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    "${waldir[@]}" $POSTGRES_INITDB_ARGS
  printf '\nhost all all all %s\n' "$auth_method" >>"$PGDATA/pg_hba.conf"

  export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
  if [ "$POSTGRES_DB" != 'postgres' ]; then
    exists="$(psql --no-psqlrc -tA --username "$POSTGRES_USER" --dbname postgres \
      -v dbname="$POSTGRES_DB" <<<"SELECT 1 FROM pg_database WHERE datname = :'dbname'")"
    if [ -z "$exists" ]; then
      psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v dbname="$POSTGRES_DB" <<<'CREATE DATABASE :"dbname";'
    fi
  fi
  run_initdb_scripts
  pg_ctl -D "$PGDATA" -m fast -w stop
  unset PGPASSWORD
  echo 'PostgreSQL init process complete; ready for start up.'
fi

exec "$@"
