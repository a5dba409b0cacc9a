#!/usr/bin/env bash
# Load benchmark of the sandbox authorization server: client_credentials tokens per
# second and introspections per second, against the real release server on SQLite,
# with keep-alive, driven by wrk (Debian's package). Prints wrk's figures, including
# the latency distribution (p50/p90/p99). The results are recorded in BENCHMARKS.md.
#
#   bench/oauth-load.sh            # 20 s per endpoint, 32 connections
#   DURATION=60s CONNECTIONS=64 bench/oauth-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
# GATEHOUSE_BIN runs a binary built elsewhere (for before/after runs of two builds).
bin=${GATEHOUSE_BIN:-"${CARGO_TARGET_DIR:-target}"/release/gatehouse}
[ -n "${GATEHOUSE_BIN:-}" ] || cargo build --release -q -p gatehouse-server

duration=${DURATION:-20s}
connections=${CONNECTIONS:-32}
threads=${THREADS:-2}
port=${PORT:-3901}
dir=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
base="http://127.0.0.1:$port"

# A fresh demo installation whose demo app may make as many requests as it likes.
RUST_LOG=warn "$bin" --demo --data-dir "$dir" --addr "127.0.0.1:$port" \
  --sandbox-max-rate-limit 1000000000 >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
  curl -fs "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

client='cli_demo_acme_sandbox:demo-sandbox-secret-acme-2026'
basic=$(printf '%s' "$client" | base64 -w0)
script() { # $1 = form body
  cat <<LUA
wrk.method = "POST"
wrk.body = "$1"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000))
end
LUA
}

echo "== machine: $(nproc) cores; wrk and the server share them"
echo "== client_credentials tokens ($duration, $connections connections, keep-alive)"
script "grant_type=client_credentials&scope=reference" >"$dir/token.lua"
wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$dir/token.lua" "$base/oauth/token"

token=$(curl -fs -u "$client" -d grant_type=client_credentials -d scope=reference "$base/oauth/token" |
  sed -e 's/.*"access_token":"\([^"]*\)".*/\1/')
echo "== introspections of an active token ($duration, $connections connections, keep-alive)"
script "token=$token" >"$dir/introspect.lua"
wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$dir/introspect.lua" "$base/oauth/introspect"
