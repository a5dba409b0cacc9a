#!/usr/bin/env bash
# Load benchmark of the sandbox API: a page of 100 transactions
# (`/aisp/accounts/{id}/transactions`), with a customer-authorised token, against the
# real release server on SQLite, keep-alive, driven by wrk (Debian's package). Every
# request checks the token in full, counts against the rate limit and is logged.
# Prints wrk's figures with p50/p90/p99; the results are recorded in BENCHMARKS.md.
#
#   bench/sandbox-api-load.sh            # 20 s, 32 connections
#   DURATION=60s CONNECTIONS=64 bench/sandbox-api-load.sh
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
port=${PORT:-3902}
dir=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
base="http://127.0.0.1:$port"
api="$base/sandbox/open-banking/v3.1"

RUST_LOG=warn "$bin" --demo --data-dir "$dir" --addr "127.0.0.1:$port" \
  --sandbox-max-rate-limit 1000000000 --access-token-seconds 3600 >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
  curl -fs "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
# The same synthetic dataset every run (SEED, default 42): how costly a page is
# depends on the account's history, so runs on random datasets are not comparable.
python3 - "$dir/gatehouse.db" "${SEED:-42}" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=10)
org = db.execute("SELECT org_id FROM apps WHERE client_id = 'cli_demo_acme_sandbox'").fetchone()[0]
db.execute("INSERT INTO sandbox_datasets (org_id, seed, created_at) VALUES (?, ?, ?) "
           "ON CONFLICT (org_id) DO UPDATE SET seed = excluded.seed", (org, int(sys.argv[2]), int(time.time())))
db.commit()
PY

client='cli_demo_acme_sandbox:demo-sandbox-secret-acme-2026'
redirect='http://localhost:8080/callback'
field() { sed -e "s/.*\"$1\":\"\([^\"]*\)\".*/\1/"; }
csrf() { grep -o 'name="csrf_token" value="[^"]*"' | head -n1 | sed -e 's/.*value="\([^"]*\)"/\1/'; }

# 1. An account-access consent, created with a client-credentials token.
cc=$(curl -fs -u "$client" -d grant_type=client_credentials -d scope=accounts "$base/oauth/token" | field access_token)
consent=$(curl -fs -H "Authorization: Bearer $cc" -H 'Content-Type: application/json' \
  -d '{"Data":{"Permissions":["ReadAccountsDetail","ReadTransactionsDetail","ReadTransactionsCredits","ReadTransactionsDebits"]},"Risk":{}}' \
  "$api/aisp/account-access-consents" | field ConsentId)

# 2. The small business customer authorises it (authorization code with PKCE).
verifier=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
challenge=$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')
jar="$dir/cookies"
curl -fs -c "$jar" -b "$jar" -o /dev/null \
  "$base/oauth/authorize?response_type=code&client_id=cli_demo_acme_sandbox&redirect_uri=$redirect&scope=accounts&code_challenge=$challenge&code_challenge_method=S256&openbanking_intent_id=$consent"
token=$(curl -fs -c "$jar" -b "$jar" "$base/oauth/authorize/signin" | csrf)
curl -fs -c "$jar" -b "$jar" -o /dev/null -H "Origin: $base" \
  --data-urlencode "csrf_token=$token" -d username=hollow.oak -d password=sandbox-hollowoak-2026 "$base/oauth/authorize/signin"
page=$(curl -fs -c "$jar" -b "$jar" "$base/oauth/authorize/consent")
token=$(printf '%s' "$page" | csrf)
account=$(printf '%s' "$page" | grep -o 'name="accounts" value="acc-[0-9a-f]*"' | head -n1 | sed -e 's/.*value="\([^"]*\)"/\1/')
# The form is bound to the request it shows (issue 18 item 18).
pending=$(printf '%s' "$page" | grep -o 'name="pending_id" value="[^"]*"' | head -n1 | sed -e 's/.*value="\([^"]*\)"/\1/')
location=$(curl -fs -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' -H "Origin: $base" \
  --data-urlencode "csrf_token=$token" --data-urlencode "pending_id=$pending" -d decision=allow -d "accounts=$account" "$base/oauth/authorize/consent")
code=$(printf '%s' "$location" | sed -e 's/.*[?&]code=\([^&]*\).*/\1/')
access=$(curl -fs -u "$client" -d grant_type=authorization_code -d "code=$code" -d "redirect_uri=$redirect" \
  -d "code_verifier=$verifier" "$base/oauth/token" | field access_token)

url="$api/aisp/accounts/$account/transactions?fromBookingDateTime=2026-01-01T00:00:00&toBookingDateTime=2026-01-31T23:59:59"
count=$(curl -fs -H "Authorization: Bearer $access" "$url" | grep -o '"TransactionId"' | wc -l)
echo "== machine: $(nproc) cores; wrk and the server share them"
echo "== a page of $count transactions ($duration, $connections connections, keep-alive)"
cat >"$dir/page.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $access"
done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000))
end
LUA
wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$dir/page.lua" "$url"
