#!/bin/sh
# STAND-IN, for tests only: the entry point of haproxy.Containerfile, doing what the official
# haproxy image's does: a first argument starting with "-" means `haproxy …`, and haproxy runs
# in master-worker mode in the foreground (-W -db).
set -e
if [ "${1#-}" != "$1" ]; then
  set -- haproxy "$@"
fi
if [ "$1" = 'haproxy' ]; then
  shift
  set -- haproxy -W -db "$@"
fi
exec "$@"
