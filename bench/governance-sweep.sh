#!/usr/bin/env bash
# The governance sweep over a large inventory: CREDENTIALS credentials (default
# 100,000) on 50,000 clients in 500 organisations, on SQLite, with the release
# binary. A tenth of the clients expire within 30 days, a tenth are idle past their
# dormancy threshold, a tenth have an owner who left. Prints the wall time and peak
# memory of:
#   1. `gatehouse governance preview` (the plan, nothing written);
#   2. the first `gatehouse governance sweep` (every warning, revocation and
#      suspension applied, each in its own transaction with its e-mails);
#   3. a second sweep (the steady state: everything already done, nothing sent);
#   4. `gatehouse inventory --format csv` (every row).
set -euo pipefail
cd "$(dirname "$0")/.."
# GATEHOUSE_BIN runs a binary built elsewhere (for before/after runs of two builds).
bin=${GATEHOUSE_BIN:-"${CARGO_TARGET_DIR:-target}"/release/gatehouse}
[ -n "${GATEHOUSE_BIN:-}" ] || cargo build --release -q -p gatehouse-server

credentials=${CREDENTIALS:-100000}
dir=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
RUST_LOG=warn "$bin" --data-dir "$dir" governance preview >/dev/null
python3 - "$dir/gatehouse.db" "$credentials" <<'PY'
import sqlite3, sys, time, random
db, total = sys.argv[1], int(sys.argv[2])
random.seed(42)
c = sqlite3.connect(db)
now = int(time.time())
day = 86400
orgs = 500
apps = total // 2
c.executemany("INSERT INTO organisations (id, legal_name, registration_number, country, website, status, created_at) VALUES (?, ?, ?, 'GB', 'https://example.com', 'active', ?)",
              [(f"org_b{i}", f"Bench {i} Ltd", f"B{i:07}", now) for i in range(orgs)])
c.executemany("INSERT INTO users (id, org_id, email, display_name, role, status, session_epoch, created_at, updated_at, removed_at) VALUES (?, ?, ?, 'Owner', 'partner_admin', ?, 0, ?, ?, ?)",
              [(f"usr_b{i}", f"org_b{i % orgs}", f"owner{i}@bench.example.com", 'disabled' if i % 10 == 3 else 'active', now, now, now - day if i % 10 == 3 else None) for i in range(orgs * 10)])
rows_apps, rows_creds = [], []
for a in range(apps):
    org = a % orgs
    owner = org + orgs * (a % 10)
    env = 'production' if a % 2 else 'sandbox'
    rows_apps.append((f"app_b{a}", f"org_b{org}", env, f"cli_b{a}", f"Client {a}", "Bench", f"usr_b{owner}", "reference accounts", "", "private_key_jwt", 0, 600, 'active', 'bench', now - 400 * day, now))
    kind = a % 10
    for k in range(2):
        created = now - 200 * day
        expires = now + (15 if kind == 1 else 300) * day
        last = now - (200 if kind == 2 else 1) * day
        rows_creds.append((f"crd_b{a}_{k}", f"app_b{a}", "jwks_uri", "https://example.com/jwks.json", "bench", created, expires, last, last))
c.executemany("INSERT INTO apps (id, org_id, environment, client_id, name, purpose, owner_id, scopes, redirect_uris, auth_method, dpop_required, rate_limit_per_minute, status, created_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows_apps)
c.executemany("INSERT INTO credentials (id, app_id, kind, material, created_by, created_at, expires_at, last_used_at, last_token_at) VALUES (?,?,?,?,?,?,?,?,?)", rows_creds)
c.commit()
print(f"== {len(rows_creds)} credentials on {len(rows_apps)} clients in {orgs} organisations")
PY
measure() { # $1 = label, rest = command
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$dir/rss" "$@" >"$dir/out" 2>"$dir/err" || { cat "$dir/err"; exit 1; }
  end=$(date +%s.%N)
  printf '%-34s %8.2f s   peak RSS %6d MB   %s\n' "$label" "$(echo "$end - $start" | bc)" "$(( $(cat "$dir/rss") / 1024 ))" "$(head -c 160 "$dir/out" | tr '\n' ' ')"
}
export RUST_LOG=warn
measure "preview (plan only)" "$bin" --data-dir "$dir" governance preview --json
echo "   actions planned: $(grep -c '"kind"' "$dir/out" || true)"
measure "first sweep (apply everything)" "$bin" --data-dir "$dir" governance sweep
measure "second sweep (nothing new)" "$bin" --data-dir "$dir" governance sweep
measure "inventory --format csv" "$bin" --data-dir "$dir" inventory --format csv
echo "   rows: $(( $(wc -l <"$dir/out") - 1 ))"
