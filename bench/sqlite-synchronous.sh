#!/usr/bin/env bash
# The cost of `PRAGMA synchronous = FULL` against NORMAL in WAL mode, as Gatehouse
# opens its SQLite database: 2,000 single-row committed transactions (each a
# revocation-sized write), on this machine's disk, in a fresh file each time.
# Prints commits per second for each setting.
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for mode in NORMAL FULL; do
  db="$dir/$mode.db"
  sqlite3 "$db" "PRAGMA journal_mode = WAL; CREATE TABLE revoked (jti TEXT PRIMARY KEY, at INTEGER);" >/dev/null
  {
    echo "PRAGMA journal_mode = WAL; PRAGMA synchronous = $mode;"
    for i in $(seq 1 2000); do echo "BEGIN; INSERT INTO revoked VALUES ('jti-$i', $i); COMMIT;"; done
  } > "$dir/$mode.sql"
  start=$(date +%s.%N)
  sqlite3 "$db" < "$dir/$mode.sql" >/dev/null
  end=$(date +%s.%N)
  awk -v m="$mode" -v s="$start" -v e="$end" 'BEGIN { printf "synchronous=%-6s %8.0f commits/s\n", m, 2000 / (e - s) }'
done
