#!/usr/bin/env bash
# Compares two builds of Gatehouse on one endpoint, against the floor, in one run:
# every round measures the floor (bench/floor: the same stack doing only the
# unavoidable work), the build before and the build after, in an order that rotates
# from round to round, each on a fresh demo installation (SQLite). A ratio to the
# floor measured minutes earlier on the same machine survives the machine's mood;
# an absolute figure does not. Prints each round, then per build the median, the
# spread (min–max) and the median ratio to the floor, and after/before.
#
#   bench/compare.sh BEFORE_BIN AFTER_BIN [token|introspect|api]
#   ROUNDS=7 DURATION=8s CONNECTIONS=50 bench/compare.sh old/gatehouse target/release/gatehouse token
#
# token       POST /oauth/token, client_credentials, client_secret_basic
#             (floor: one ES256 JWT signed with ring per request)
# introspect  POST /oauth/introspect of distinct tokens, about 40,000 minted first, so
#             no verified-token cache helps (floor: one ES256 verification per request)
# api         GET  reference/branches of the sandbox API with a client-credentials
#             token (floor: bare axum answering a fixed JSON body)
#
# To build the "before" binary of a commit without disturbing this checkout:
#   git worktree add /tmp/before <commit>
#   CARGO_TARGET_DIR=/tmp/before-target cargo build --release -p gatehouse-server \
#     --manifest-path /tmp/before/Cargo.toml
# (copy target/release to /tmp/before-target/release first: only the changed crates
# are compiled again).
set -euo pipefail
cd "$(dirname "$0")/.."

before=${1:?usage: bench/compare.sh BEFORE_BIN AFTER_BIN [token|introspect|api]}
after=${2:?usage: bench/compare.sh BEFORE_BIN AFTER_BIN [token|introspect|api]}
endpoint=${3:-token}
rounds=${ROUNDS:-5}
duration=${DURATION:-8s}
connections=${CONNECTIONS:-50}
threads=${THREADS:-1}
port=${PORT:-3910}
case "$endpoint" in token | introspect | api) ;; *) echo "unknown endpoint $endpoint" >&2; exit 2 ;; esac

if ! command -v wrk >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
cargo build --release -q -p gatehouse-floor
floor="${CARGO_TARGET_DIR:-target}/release/gatehouse-floor"

dir=$(mktemp -d /tmp/gatehouse-compare.XXXXXX)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$dir"' EXIT
base="http://127.0.0.1:$port"
client='cli_demo_acme_sandbox:demo-sandbox-secret-acme-2026'
basic=$(printf '%s' "$client" | base64 -w0)

wait_up() {
  for _ in $(seq 1 300); do
    curl -fs "$base/$1" >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "the server never answered on $base/$1" >&2
  exit 1
}

stop() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=; }

# A wrk script: $1 method, $2 path, $3 extra headers (Lua table entries), $4 body or
# "TOKENS" (cycle through the tokens file, one per request). A fixed request is
# built once (wrk's cheapest path: the load generator shares the cores).
script() {
  printf '%s' "$2" >"$dir/path"
  if [ "$4" = TOKENS ]; then
    cat <<LUA
local headers = { $3 }
local tokens, i = {}, 0
for line in io.lines("$dir/tokens") do tokens[#tokens + 1] = line end
request = function()
  i = i % #tokens + 1
  return wrk.format("$1", "$2", headers, "token=" .. tokens[i])
end
LUA
  else
    cat <<LUA
wrk.method = "$1"
for k, v in pairs({ $3 }) do wrk.headers[k] = v end
if "$4" ~= "" then wrk.body = "$4" end
LUA
  fi
  cat <<LUA
done = function(summary, latency, requests)
  io.write(string.format("errors %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
}

# Introspection is measured on tokens that are active: a refusal is cheaper.
active() {
  case "$1" in *'"active":true'*) ;; *) echo "a minted token is not active: $1" >&2; exit 1 ;; esac
  [ "$(wc -l <"$dir/tokens")" -ge 20000 ] || { echo "too few tokens minted: $(wc -l <"$dir/tokens")" >&2; exit 1; }
}

form='["Content-Type"] = "application/x-www-form-urlencoded"'
auth="[\"Authorization\"] = \"Basic $basic\""

# Starts $1 (floor or a Gatehouse binary) and writes the wrk script for it.
prepare() {
  local what=$1
  if [ "$what" = floor ]; then
    "$floor" "127.0.0.1:$port" >/dev/null 2>&1 &
    server=$!
    wait_up "mint?n=1"
    case "$endpoint" in
      token) script POST /sign "$form" "grant_type=client_credentials&scope=reference" ;;
      introspect)
        curl -fs "$base/mint?n=40000" >"$dir/tokens"
        active "$(curl -fs --data-urlencode "token=$(tail -n 1 "$dir/tokens")" "$base/verify")"
        script POST /verify "$form" TOKENS ;;
      api) script GET /plain "" "" ;;
    esac >"$dir/run.lua"
    return
  fi
  rm -rf "$dir/data"
  RUST_LOG=warn "$what" --demo --data-dir "$dir/data" --addr "127.0.0.1:$port" \
    --sandbox-max-rate-limit 1000000000 --access-token-seconds 3600 >"$dir/server.log" 2>&1 &
  server=$!
  wait_up healthz
  case "$endpoint" in
    token) script POST /oauth/token "$form, $auth" "grant_type=client_credentials&scope=reference" ;;
    introspect)
      # Distinct tokens, minted at full speed by wrk itself (one thread: one file).
      rm -f "$dir/tokens"
      cat >"$dir/mint.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=reference"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
local out = io.open("$dir/tokens", "a")
local n = 0
response = function(status, headers, body)
  if n < 40000 then
    local token = body:match('"access_token":"([^"]+)"')
    if token then out:write(token, "\n"); n = n + 1 end
  end
end
LUA
      wrk -t1 -c16 -d4s -s "$dir/mint.lua" "$base/oauth/token" >/dev/null
      active "$(curl -fs -u "$client" --data-urlencode "token=$(tail -n 1 "$dir/tokens")" "$base/oauth/introspect")"
      script POST /oauth/introspect "$form, $auth" TOKENS ;;
    api)
      local token
      token=$(curl -fs -u "$client" -d grant_type=client_credentials -d scope=reference "$base/oauth/token" |
        sed -e 's/.*"access_token":"\([^"]*\)".*/\1/')
      script GET /sandbox/open-banking/v3.1/reference/branches "[\"Authorization\"] = \"Bearer $token\"" "" ;;
  esac >"$dir/run.lua"
}

# Measures one build: requests per second (non-2xx answers abort the comparison).
measure() {
  prepare "$1"
  local out rate errors
  out=$(wrk -t"$threads" -c"$connections" -d"$duration" -s "$dir/run.lua" "$base$(cat "$dir/path")")
  stop
  rate=$(printf '%s\n' "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  errors=$(printf '%s\n' "$out" | awk '/^errors/ {print $2}')
  if [ "${errors:-0}" != 0 ]; then
    echo "$1: $errors errors or non-2xx answers in the run" >&2
    printf '%s\n' "$out" >&2
    exit 1
  fi
  echo "$rate"
}

echo "== $endpoint: $rounds rounds of $duration, $connections connections, $threads wrk thread(s); $(nproc) cores shared with wrk"
echo "   before: $before"
echo "   after:  $after"
printf '%-6s %10s %10s %10s %10s %10s\n' round floor before after "before/fl" "after/fl"
names=(floor before after)
bins=(floor "$before" "$after")
declare -a f b a
for round in $(seq 1 "$rounds"); do
  declare -A got=()
  for k in 0 1 2; do
    i=$(( (k + round - 1) % 3 ))
    got[${names[$i]}]=$(measure "${bins[$i]}")
  done
  f+=("${got[floor]}"); b+=("${got[before]}"); a+=("${got[after]}")
  printf '%-6s %10s %10s %10s %10.3f %10.3f\n' "$round" "${got[floor]}" "${got[before]}" "${got[after]}" \
    "$(awk -v x="${got[before]}" -v y="${got[floor]}" 'BEGIN {print x / y}')" \
    "$(awk -v x="${got[after]}" -v y="${got[floor]}" 'BEGIN {print x / y}')"
  unset got
done

# Median and spread of a list of numbers.
stats() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "median %.0f, spread %.0f-%.0f (%.1f%%)", m, v[1], v[NR], (v[NR] - v[1]) * 100 / m}'; }
ratios() { # $1 name of the numerator array
  local -n num=$1
  for r in $(seq 0 $((rounds - 1))); do awk -v x="${num[$r]}" -v y="${f[$r]}" 'BEGIN {print x / y}'; done |
    sort -g | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f (%.3f-%.3f)", m, v[1], v[NR]}'
}
echo "floor   $(stats "${f[@]}") req/s"
echo "before  $(stats "${b[@]}") req/s; to the floor: $(ratios b)"
echo "after   $(stats "${a[@]}") req/s; to the floor: $(ratios a)"
paired=$(for r in $(seq 0 $((rounds - 1))); do awk -v x="${a[$r]}" -v y="${b[$r]}" 'BEGIN {print x / y}'; done |
  sort -g | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%+.1f%% (rounds: %+.1f%% to %+.1f%%)", (m - 1) * 100, (v[1] - 1) * 100, (v[NR] - 1) * 100}')
echo "after/before, same round: median $paired"
