#!/usr/bin/env bash
# Memory under a burst of anonymous sign-ups (issue 19 item 9): 500 concurrent
# sign-ups against the release server on SQLite, each with its own session and CSRF
# token, as browsers would send them. Prints the server's resident memory before, its
# peak (VmHWM) during, and after, with the answers by status. Run twice: with the
# per-address limit as configured (it answers most of a one-address burst with 429),
# and with it lifted, so that every sign-up reaches the password hasher and only the
# hashing limit (`--password-hash-concurrency`, default 4) bounds the memory.
#
#   bench/signup-memory.sh                       # 500 sign-ups, limits as configured
#   LIFT_ADDRESS_LIMIT=1 bench/signup-memory.sh  # every sign-up reaches the hasher
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p gatehouse-server

count=${COUNT:-500}
port=${PORT:-3903}
dir=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
base="http://127.0.0.1:$port"
extra=()
if [ "${LIFT_ADDRESS_LIMIT:-0}" = 1 ]; then
  extra+=(--signin-attempts-per-minute 1000000)
fi
RUST_LOG=warn "${CARGO_TARGET_DIR:-target}"/release/gatehouse --data-dir "$dir" --addr "127.0.0.1:$port" \
  "${extra[@]}" >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
  curl -fs "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

python3 - "$base" "$count" "$server" <<'PY'
import concurrent.futures, http.cookiejar, re, sys, threading, time, urllib.error, urllib.parse, urllib.request
base, count, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def mem(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1]) // 1024
    return 0

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

def prepare(i):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    page = opener.open(f"{base}/signup").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]*)"', page).group(1)
    form = urllib.parse.urlencode({
        "csrf_token": token, "legal_name": f"Burst {i} Ltd", "registration_number": f"{10000000 + i}",
        "country": "GB", "website": f"https://burst{i}.example.com", "lei": "",
        "full_name": "Burst Tester", "email": f"burst{i}@burst.example.com",
        "password": f"correct horse battery staple {i}",
    }).encode()
    return opener, form

# Sessions and tokens first, so the burst itself is only sign-ups.
with concurrent.futures.ThreadPoolExecutor(32) as pool:
    prepared = list(pool.map(prepare, range(count)))
before = mem("VmRSS:")
start = threading.Barrier(count)

def submit(item):
    opener, form = item
    request = urllib.request.Request(f"{base}/signup", data=form, headers={"Origin": base})
    start.wait()
    try:
        return opener.open(request, timeout=120).status
    except urllib.error.HTTPError as err:
        return err.code

began = time.time()
with concurrent.futures.ThreadPoolExecutor(count) as pool:
    statuses = list(pool.map(submit, prepared))
took = time.time() - began
time.sleep(2)
answers = {}
for s in statuses:
    answers[s] = answers.get(s, 0) + 1
print(f"{count} concurrent sign-ups in {took:.1f} s: answers {dict(sorted(answers.items()))}")
print(f"server RSS before {before} MiB, peak {mem('VmHWM:')} MiB, after {mem('VmRSS:')} MiB")
PY
