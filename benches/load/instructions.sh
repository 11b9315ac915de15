#!/usr/bin/env bash
# Instructions per proxied tracking request in Sesame's user space, under callgrind: repeatable
# whatever else the machine is doing (unlike times), so it compares code changes on a noisy box.
#
#     HOLD=1 benches/load/run.sh &        # seeds Sesame + the nginx upstream, then waits
#     benches/load/instructions.sh        # N1=1000 N2=11000 BIN=target/release/sesame TOP=40
#
# Starts a second `sesame serve --role gateway` under valgrind on the held run's database and
# secrets (ports +100), sends N1 then (in a fresh process) N2 keep-alive requests, and prints
# (I(N2) - I(N1)) / (N2 - N1) — start-up cancels out — and the functions that account for it.
# Note: valgrind hides SHA-NI, so a key's HMAC shows as software SHA-256 (~7k instructions that
# are ~1k on the real CPU); since issue 17 only a key's first request pays it (auth/key_memo.rs).
# quanta's start-up calibration (governor's clock) is left out of both totals: its length
# varies from run to run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${BIN:-$ROOT/target/release/sesame}"
N1="${N1:-1000}"; N2="${N2:-11000}"; TOP="${TOP:-40}"
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
W=$(ls -dt /tmp/sesame-load.* 2>/dev/null | head -1)
[ -n "$W" ] && [ -f "$W/sesame.toml" ] || { echo "no held run: start HOLD=1 benches/load/run.sh first" >&2; exit 1; }
SES_PID=$(pgrep -f -- "--config $W/sesame.toml" | head -1)
[ -n "$SES_PID" ] || { echo "the held run's sesame is not running" >&2; exit 1; }
OUT=$(mktemp -d /tmp/sesame-cg.XXXXXX)
# Same config, listeners moved up by 100 (the upstream URL stays).
awk '/^(public|admin|ops|simulator) = / { match($0, /:[0-9]+"/); p = substr($0, RSTART + 1, RLENGTH - 2);
    sub(/:[0-9]+"/, ":" (p + 100) "\"") } { print }' "$W/sesame.toml" >"$OUT/cg.toml"
PORT=$(grep -m1 '^public = ' "$OUT/cg.toml" | sed -E 's/.*:([0-9]+)".*/\1/')
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "port $PORT is taken (a previous run's valgrind?)" >&2; exit 1
fi
VP=""
trap '[ -n "$VP" ] && kill "$VP" 2>/dev/null; [ "${KEEP:-0}" = 1 ] || rm -rf "$OUT"' EXIT
mapfile -t ENVV < <(tr '\0' '\n' </proc/"$SES_PID"/environ | grep '^SESAME__')
# Background work on timers (the change-log poll every 50 ms on SQLite, the route table's
# reload check) runs per second, not per request, and under valgrind, ~50× slower, a run lasts
# long enough for hundreds of polls: they would land in the difference as per-request cost
# (thousands of instructions, varying with the run's length). Slowed to once an hour here.
ENVV+=(SESAME__GATEWAY__POLL_INTERVAL_MS=3600000 SESAME__GATEWAY__ROUTES_RELOAD_INTERVAL_MS=3600000)

run() { # n -> callgrind file
    env "${ENVV[@]}" valgrind --tool=callgrind --compress-strings=no --compress-pos=no \
        --callgrind-out-file="$OUT/cg.$1" "$BIN" --config "$ROOT/config/default.toml" \
        --config "$OUT/cg.toml" --worker-threads 1 serve --role gateway >"$OUT/log.$1" 2>&1 &
    VP=$!
    for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.2; done
    python3 - "$W" "$PORT" "$1" <<'PY'
import sys, http.client, re
w, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
body = re.search(r"\[==\[(.*)\]==\]", open(w + "/tracking-key.lua").read()).group(1)
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    c.request("POST", "/tracking-timeline-ws/rest/tracking/timelineCompany", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
    kill -TERM "$VP"; wait "$VP" 2>/dev/null || true; VP=""
}
run "$N1"; run "$N2"
python3 - "$OUT/cg.$N1" "$OUT/cg.$N2" "$((N2 - N1))" "$TOP" <<'PY'
import collections, re, subprocess, sys
def load(f):
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", "--auto=no", f],
                         capture_output=True, text=True, check=True).stdout
    d, total = collections.Counter(), 0
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)$", line)
        if not m: continue
        v = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in line: total = v; continue
        name = re.sub(r"\s*\[[^\]]*\]\s*$", "", m.group(2))
        d[name.split(":", 1)[1] if ":" in name else name] += v
    # quanta (governor's clock) calibrates once at start-up, for as long as the TSC takes to
    # settle: a few million instructions that vary run to run. Left out of the totals, so
    # they do not land in the difference as noise.
    inc = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", "--auto=no", f],
                         capture_output=True, text=True, check=True).stdout
    # The function's inclusive cost is its largest line: the others split it by source file.
    calib = [int(m.group(1).replace(",", "")) for m in
             re.finditer(r"^\s*([\d,]+) \([^)]*\)\s+\S*quanta::Calibration::calibrate\b", inc, re.M)]
    total -= max(calib, default=0)
    return d, total
(a, ta), (b, tb) = load(sys.argv[1]), load(sys.argv[2])
n, top = int(sys.argv[3]), int(sys.argv[4])
print(f"instructions per request: {(tb - ta) / n:,.0f}")
# Allocations per request: calls into the allocator (mimalloc's C entry points, which no
# inlining hides), counted by callgrind in the same two runs.
ALLOC = re.compile(r"^(__rust_alloc(_zeroed)?|__rust_realloc|mi_(malloc|zalloc|calloc|realloc|rezalloc)(_aligned)?(_at)?|mi_heap_malloc\w*|__libc_malloc|malloc|calloc|realloc)$")
FREE = re.compile(r"^(__rust_dealloc|mi_free\w*|__libc_free|free)$")
# Only calls from outside the allocator: mimalloc's entry points call each other.
INNER = re.compile(r"^(_?mi_|__rust_(alloc|dealloc|realloc)|__libc_)")
name = lambda s: re.sub(r"^\(\d+\)\s*", "", s.strip())
def calls(f):
    out = collections.Counter(); cfn = None; fn = ""
    for line in open(f, errors="replace"):
        if line.startswith("fn="):
            fn = name(line[3:])
        elif line.startswith("cfn="):
            if INNER.match(fn): continue
            cfn = name(line[4:])
        elif line.startswith("calls=") and cfn is not None:
            out[cfn] += int(line[6:].split()[0]); cfn = None
    return out
ca, cb = calls(sys.argv[1]), calls(sys.argv[2])
per = lambda pat: sum(v - ca.get(k, 0) for k, v in cb.items() if pat.match(k)) / n
print(f"allocations per request: {per(ALLOC):,.1f} (frees {per(FREE):,.1f})")
for k, v in sorted(((k, (b[k] - a.get(k, 0)) / n) for k in b), key=lambda x: -x[1])[:top]:
    print(f"{v:9,.0f}  {k[:140]}")
PY
[ "${KEEP:-0}" = 1 ] && echo "kept $OUT"
