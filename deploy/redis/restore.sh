#!/bin/sh
# Restore a backup (an RDB file made with `redis-cli --rdb`) into Redis's data directory, with the
# append-only file rebuilt from it. Run it while Redis is stopped (README, "Backups").
#
#   sh restore.sh BACKUP.rdb DATA_DIR
#
# Why not just copy the file: with appendonly yes, Redis 7 reads only its append-only files and
# ignores dump.rdb. So the backup is loaded by a Redis started here without AOF (on 127.0.0.1,
# $RESTORE_PORT, no password, nothing else can reach it), AOF is then switched on, which writes a
# fresh append-only file from what was loaded, and that Redis is shut down. The next normal start
# reads it. RESTORE_CHOWN=redis hands the files to that user (the redis image).
set -eu
backup=$1
data=$2
port=${RESTORE_PORT:-6390}
unset REDISCLI_AUTH       # (the Redis started here has no password)
[ -s "$backup" ] || { echo "restore: $backup is not a backup file" >&2; exit 2; }
rm -rf "$data/appendonlydir" "$data/dump.rdb"
cp "$backup" "$data/dump.rdb"
redis-server --port "$port" --bind 127.0.0.1 --dir "$data" --appendonly no --save "" \
    --daemonize yes --pidfile "$data/restore.pid" --logfile "$data/restore.log"
cli() { redis-cli -p "$port" --no-auth-warning "$@"; }
tries=0
until cli ping 2>/dev/null | grep -q PONG; do
    tries=$((tries + 1)); [ $tries -lt 600 ] || { echo "restore: Redis did not start (see $data/restore.log)" >&2; exit 1; }
    sleep 0.1
done
echo "restore: $(cli dbsize) keys loaded from $backup"
cli config set appendonly yes >/dev/null
until cli info persistence | grep -q '^aof_rewrite_in_progress:0' \
      && cli info persistence | grep -q '^aof_rewrite_scheduled:0' \
      && [ -s "$data/appendonlydir/appendonly.aof.manifest" ]; do
    sleep 0.1
done
cli shutdown >/dev/null 2>&1 || true
while [ -e "$data/restore.pid" ]; do sleep 0.1; done
rm -f "$data/restore.log"
[ -z "${RESTORE_CHOWN:-}" ] || chown -R "$RESTORE_CHOWN:$RESTORE_CHOWN" "$data"
echo "restore: done; start Redis as usual"
