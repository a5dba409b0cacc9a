#!/usr/bin/env bash
# Scale-out benchmark (issue 30): client_credentials tokens per second and sandbox-API
# calls per second (`reference/branches` with a client-credentials token) with 1, 2 and
# 3 instances of the release binary on one PostgreSQL, with the rate limits shared
# through the database (the default) and counted by each instance alone
# (`--rate-limits local`), and the database's own CPU. Then the overshoot: a client
# limited to LIMIT a minute driven at all instances at once, admitted count printed.
#
# wrk (Debian's package) drives each instance with its own process and an equal share
# of the connections, as a load balancer spreads them; everything (wrk, the instances,
# PostgreSQL) shares this machine's cores, so the figures say how the cost moves with
# the instance count, not what separate machines would reach.
#
#   bench/scale-out.sh                          # 10 s per run, 48 connections in all
#   DURATION=20s CONNECTIONS=64 ROUNDS=2 bench/scale-out.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
bin=${GATEHOUSE_BIN:-"${CARGO_TARGET_DIR:-target}"/release/gatehouse}
[ -n "${GATEHOUSE_BIN:-}" ] || cargo build --release -q -p gatehouse-server

duration=${DURATION:-10s}
connections=${CONNECTIONS:-48}
rounds=${ROUNDS:-1}
limit=${LIMIT:-600}
dir=$(mktemp -d /tmp/gatehouse-scale.XXXXXX)
chmod 755 "$dir"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pgport=${PGPORT:-55490}
pgdata="$dir/pg"
mkdir -p "$pgdata"
run_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$pgdata"
run_pg "$pgbin/initdb -D $pgdata -A trust -U postgres" >/dev/null
run_pg "$pgbin/pg_ctl -D $pgdata -l $pgdata/server.log -o '-p $pgport -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200' -w start" >/dev/null
pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done; pids=(); }
trap 'stop_all; run_pg "$pgbin/pg_ctl -D $pgdata -m immediate stop" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
client='cli_demo_acme_sandbox:demo-sandbox-secret-acme-2026'
basic=$(printf '%s' "$client" | base64 -w0)
psql_q() { psql -h 127.0.0.1 -p "$pgport" -U postgres -d "$1" -Atc "$2"; }

# The CPU seconds PostgreSQL's processes have used so far (utime + stime).
pg_cpu() {
  local ticks=0 pid stat
  for pid in $(pgrep -u postgres -f "postgres" || true); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    set -- ${stat##*) }
    ticks=$((ticks + ${12} + ${13}))
  done
  echo "$ticks"
}

# start N MODE DB: N instances on database DB, limits MODE (shared|local).
start() {
  local n=$1 mode=$2 db=$3 i port
  psql_q postgres "CREATE DATABASE $db" >/dev/null
  for i in $(seq 1 "$n"); do
    port=$((3950 + i))
    mkdir -p "$dir/data-$db-$i"
    RUST_LOG=warn "$bin" --demo --data-dir "$dir/data-$db-$i" --addr "127.0.0.1:$port" \
      --database-url "postgres://postgres@127.0.0.1:$pgport/$db" --secret-key "$secret" \
      --public-url "http://127.0.0.1:3951" --rate-limits "$mode" \
      --sandbox-max-rate-limit 1000000000 --access-token-seconds 3600 \
      >"$dir/server-$db-$i.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 300); do
      curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
      sleep 0.2
    done
    # One after another: the first migrates and seeds the demo.
  done
  # Every instance has beaten and counts the others.
  sleep 6
}

# load N PATH LUA: N wrk processes, one per instance; prints the summed requests/s.
load() {
  local n=$1 path=$2 lua=$3 i per=$(( connections / $1 )) total=0 rate loaders=()
  for i in $(seq 1 "$n"); do
    wrk -t1 -c"$per" -d"$duration" -s "$lua" "http://127.0.0.1:$((3950 + i))$path" >"$dir/wrk-$i.txt" 2>&1 &
    loaders+=($!)
  done
  wait "${loaders[@]}"
  for i in $(seq 1 "$n"); do
    rate=$(awk '/Requests\/sec/ {print $2}' "$dir/wrk-$i.txt")
    total=$(awk -v a="$total" -v b="${rate:-0}" 'BEGIN {printf "%.0f", a + b}')
    if grep -q "Non-2xx" "$dir/wrk-$i.txt"; then
      echo "   (instance $i: $(grep Non-2xx "$dir/wrk-$i.txt"))" >&2
    fi
  done
  echo "$total"
}

cat >"$dir/token.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=reference"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA

hz=$(getconf CLK_TCK)
secs=${duration%s}
echo "== machine: $(nproc) cores; wrk, the instances and PostgreSQL share them"
echo "== $duration per run, $connections connections in all, split evenly over the instances"
printf '%-6s %-9s %-7s %12s %10s %12s %10s\n' round limits inst "tokens/s" "db cores" "api calls/s" "db cores"
run=0
for round in $(seq 1 "$rounds"); do
  for n in 1 2 3; do
    for mode in shared local; do
      run=$((run + 1))
      db="bench_${run}"
      start "$n" "$mode" "$db"
      before=$(pg_cpu)
      tokens=$(load "$n" /oauth/token "$dir/token.lua")
      after=$(pg_cpu)
      token_db=$(awk -v t=$((after - before)) -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.2f", t / hz / s}')
      access=$(curl -fs -u "$client" -d grant_type=client_credentials -d scope=reference \
        "http://127.0.0.1:3951/oauth/token" | sed -e 's/.*"access_token":"\([^"]*\)".*/\1/')
      printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$access" >"$dir/api.lua"
      before=$(pg_cpu)
      api=$(load "$n" /sandbox/open-banking/v3.1/reference/branches "$dir/api.lua")
      after=$(pg_cpu)
      api_db=$(awk -v t=$((after - before)) -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.2f", t / hz / s}')
      printf '%-6s %-9s %-7s %12s %10s %12s %10s\n' "$round" "$mode" "$n" "$tokens" "$token_db" "$api" "$api_db"
      stop_all
      psql_q postgres "DROP DATABASE $db WITH (FORCE)" >/dev/null
    done
  done
done

# The overshoot: a client limited to $limit a minute, driven at every instance at
# once for 20 s (one window is 60 s: nothing refills meanwhile). Admitted = 200s.
echo "== overshoot: a client limited to $limit a minute, 3 instances, 20 s of load at all three"
for mode in shared local; do
  db="bench_over_$mode"
  start 3 "$mode" "$db"
  psql_q "$db" "UPDATE apps SET rate_limit_per_minute = $limit WHERE client_id = 'cli_demo_acme_sandbox'" >/dev/null
  sleep 2
  count() { psql_q "$db" "SELECT COUNT(*) FROM request_log r JOIN apps a ON a.id = r.app_id WHERE a.client_id = 'cli_demo_acme_sandbox' AND r.status = $1"; }
  ok0=$(count 200); limited0=$(count 429)
  saved=$duration; duration=20s
  load 3 /oauth/token "$dir/token.lua" >/dev/null
  duration=$saved
  sleep 1
  admitted=$(( $(count 200) - ok0 )); refused=$(( $(count 429) - limited0 ))
  echo "limits $mode: $admitted admitted (limit $limit), $refused refused with 429"
  stop_all
  psql_q postgres "DROP DATABASE $db WITH (FORCE)" >/dev/null
done
