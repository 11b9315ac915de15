#!/usr/bin/env bash
# Load benchmark: Sesame side by side with nginx (SPEC §8), one command from a fresh clone:
#
#     benches/load/run.sh
#
# Installs nginx, wrk and jq (and cmake to build the pingora peer) from Debian's packages if
# missing, builds `sesame` in release, then on loopback:
#   upstream  nginx (1 worker) answering a fixed tracking timeline JSON (pickup-point JSON under
#             /pointretrait-ws-cxf/) to any request;
#   A         wrk -> upstream directly;
#   B         wrk -> nginx `proxy_pass`, keep-alive upstream pool, ONE worker process;
#   C         wrk -> Sesame doing the whole job: connection key in the body, principal cache,
#             right check, credential injection, answer code check, metrics, rate limiter on but
#             never limiting (seeded through its admin API: operator creates the account, the
#             account admin invites an advanced user, the invitation link is read from the
#             outbox, the user confirms and gets its connection key).
#   D         (optional, PEERS=pingora) wrk -> a minimal pingora proxy (benches/pingora-peer,
#             crates.io, its own workspace; not in the shipped binary): the same byte-relaying
#             job as B, keep-alive upstream pool, ONE worker thread; where a Rust proxy goes here.
# Same CPU allowance for all proxies: each is pinned to CPU $PROXY_CPU (taskset; Sesame also
# serves on ONE thread, `--worker-threads 1`, as nginx runs one worker process and the pingora
# peer one worker thread); wrk and the upstream share CPU $CLIENT_CPU. Targets are interleaved
# A B C [D] A B C [D] … for $ROUNDS rounds per scenario; the table gives medians and the ratios
# C/B (and D/B) (median, min–max over rounds) of throughput, p50, p99 and CPU time per request
# (utime+stime of the proxy's processes from /proc/<pid>/stat over the run ÷ requests).
# Results: printed, and written to benches/results/latest.md.
#
# Knobs (environment): ROUNDS=5 DURATION=10 CONNECTIONS=32 SCENARIOS="tracking pickup"
#                      PROXY_CPU=1 CLIENT_CPU=0 PORT_BASE=18080 SKIP_BUILD=0
#                      PEERS="": extra targets, space-separated; "pingora" adds D (built in
#                      release unless SKIP_BUILD=1 and its binary is there).
#                      HOLD=1: set everything up, print the pids, ports and wrk scripts, and wait
#                      (for profiling with perf, strace or valgrind) instead of measuring.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-32}"
SCENARIOS="${SCENARIOS:-tracking pickup}"
PROXY_CPU="${PROXY_CPU:-1}"
CLIENT_CPU="${CLIENT_CPU:-0}"
PORT_BASE="${PORT_BASE:-18080}"
SKIP_BUILD="${SKIP_BUILD:-0}"
PEERS="${PEERS:-}"
TARGETS="A B C"
PINGORA_PEER=0
for peer in $PEERS; do
    case $peer in
    pingora) PINGORA_PEER=1; TARGETS="A B C D" ;;
    *) printf 'unknown peer in PEERS: %s (known: pingora)\n' "$peer" >&2; exit 2 ;;
    esac
done
UP_PORT=$((PORT_BASE + 10))      # upstream nginx
NGX_PORT=$PORT_BASE              # B: nginx proxy
SES_PORT=$((PORT_BASE + 1))      # C: Sesame public listener
OPS_PORT=$((PORT_BASE + 2))
ADM_PORT=$((PORT_BASE + 3))
PGR_PORT=$((PORT_BASE + 4))      # D: pingora peer (PEERS=pingora)
SIM_PORT=$((PORT_BASE + 11))     # unused by `serve`, but must be a valid free address
PEER_DIR="$ROOT/benches/pingora-peer"
PINGORA="$PEER_DIR/target/release/pingora-peer"
BUILD_PEER=0
if [ "$PINGORA_PEER" = 1 ] && { [ "$SKIP_BUILD" != 1 ] || [ ! -x "$PINGORA" ]; }; then BUILD_PEER=1; fi

log() { printf '%s\n' "$*" >&2; }

# --- tools -----------------------------------------------------------------------------------
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)
# pingora-core compresses with zlib-ng (flate2's `zlib-ng`, not optional), built from C by cmake.
if [ "$BUILD_PEER" = 1 ]; then command -v cmake >/dev/null 2>&1 || need+=(cmake); fi
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} from Debian's packages"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

if [ "$SKIP_BUILD" != 1 ]; then
    log "building sesame (release)"
    (cd "$ROOT" && cargo build --release -p sesame --quiet)
fi
SESAME="$ROOT/target/release/sesame"
if [ "$BUILD_PEER" = 1 ]; then
    # Its own workspace, lock file and target/ (a CARGO_TARGET_DIR in the environment would move
    # the binary away from $PINGORA, hence the explicit one).
    log "building the pingora peer (release)"
    CARGO_TARGET_DIR="$PEER_DIR/target" cargo build --release --quiet --manifest-path "$PEER_DIR/Cargo.toml"
fi

W="$(mktemp -d /tmp/sesame-load.XXXXXX)"
mkdir -p "$W/tmp"
chmod 777 "$W" "$W/tmp"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT

# --- upstream answers: realistic, fixed ------------------------------------------------------
cat >"$W/timeline.json" <<'JSON'
{"status":[{"code":"0","message":"json.ok"}],"message":{"code":"0","libelle":"Votre colis est livré."},"parcel":{"parcelNumber":"6A39138643271","accountNumber":"900138","userKey":"0123456789ABCDEF0123456789ABCDEF","tag":"ENTREPOT-NORD","product":"DOS","weight":6.05,"depositDate":"2026-10-25","statusLabel":"Livré","recipient":{"name":"Inès Durand","postalCode":"13001","city":"Marseille","country":"FR"},"event":[{"code":"LIVCFM","date":"2026-10-27T11:57:00+01:00","siteName":"MARSEILLE PPDC","labelLong":"Votre colis est livré.","labelShort":"Livré"},{"code":"MLVARS","date":"2026-10-27T08:12:00+01:00","siteName":"MARSEILLE PPDC","labelLong":"Votre colis est en cours de livraison.","labelShort":"En cours de livraison"},{"code":"AARCFM","date":"2026-10-27T06:40:00+01:00","siteName":"MARSEILLE PPDC","labelLong":"Votre colis est arrivé sur son site de distribution.","labelShort":"Arrivé sur le site de distribution"},{"code":"EXPCFM","date":"2026-10-26T22:05:00+01:00","siteName":"PLATEFORME COLIS CAVAILLON","labelLong":"Votre colis est en cours d'acheminement.","labelShort":"En cours d'acheminement"},{"code":"EXPCFM","date":"2026-10-25T21:30:00+01:00","siteName":"PLATEFORME COLIS WISSOUS","labelLong":"Votre colis est en cours d'acheminement.","labelShort":"En cours d'acheminement"},{"code":"PCHCFM","date":"2026-10-25T17:48:00+01:00","siteName":"PARIS LOUVRE BP","labelLong":"Votre colis a été déposé dans un point postal.","labelShort":"Pris en charge"},{"code":"COMCFM","date":"2026-10-25T10:00:00+01:00","siteName":"","labelLong":"Votre colis est annoncé.","labelShort":"Annoncé"}],"step":[{"stepId":1,"labelShort":"Annoncé","status":"STEP_STATUS_ACTIVE"},{"stepId":2,"labelShort":"Pris en charge","status":"STEP_STATUS_ACTIVE"},{"stepId":3,"labelShort":"En cours d'acheminement","status":"STEP_STATUS_ACTIVE"},{"stepId":4,"labelShort":"En cours de livraison","status":"STEP_STATUS_ACTIVE"},{"stepId":5,"labelShort":"Livré","status":"STEP_STATUS_ACTIVE"}]}}
JSON
{
    printf '{"errorCode":0,"errorMessage":"Code retour OK","qualiteReponse":2,"wsRequestId":"9f3c2a71d0b84e5f","listePointRetraitAcheminement":['
    for i in 0 1 2 3 4 5 6 7 8 9; do
        [ "$i" -gt 0 ] && printf ','
        printf '{"identifiant":"2242%02d","nom":"BUREAU DE POSTE PARIS SUD %d","adresse1":"%d RUE PASTEUR","adresse2":"","adresse3":"","codePostal":"75001","localite":"PARIS","codePays":"FR","langue":"FR","libellePays":"FRANCE","coordGeolocalisationLatitude":"48.85%04d","coordGeolocalisationLongitude":"2.34%04d","distanceEnMetre":%d,"horairesOuvertureLundi":"09:00-12:00 13:30-18:00","horairesOuvertureMardi":"09:00-12:00 13:30-18:00","horairesOuvertureMercredi":"09:00-12:00 13:30-18:00","horairesOuvertureJeudi":"09:00-12:00 13:30-18:00","horairesOuvertureVendredi":"09:00-12:00 13:30-18:00","horairesOuvertureSamedi":"09:00-12:00 00:00-00:00","horairesOuvertureDimanche":"00:00-00:00 00:00-00:00","typeDePoint":"BPR","reseau":"R01","poidsMaxi":30000,"accesPersonneMobiliteReduite":false,"parking":true,"loanOfHandlingTool":false,"congesPartiel":false,"congesTotal":false}' \
            "$i" "$i" $((i + 10)) $((i * 137)) $((i * 211)) $((80 + i * 140))
    done
    printf ']}\n'
} >"$W/pickup.json"
jq -e . "$W/timeline.json" >/dev/null && jq -e . "$W/pickup.json" >/dev/null

cat >"$W/upstream.conf" <<CONF
worker_processes 1;
pid $W/upstream.pid;
error_log $W/upstream.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_body_temp_path $W/tmp/up_body;
    proxy_temp_path $W/tmp/up_proxy;
    fastcgi_temp_path $W/tmp/up_fcgi;
    uwsgi_temp_path $W/tmp/up_uwsgi;
    scgi_temp_path $W/tmp/up_scgi;
    server {
        listen 127.0.0.1:$UP_PORT reuseport backlog=4096;
        root $W;
        types { }
        default_type "application/json;charset=UTF-8";
        open_file_cache max=16 inactive=300s;
        open_file_cache_valid 300s;
        # A static file answers GET; any other method (POST) is redirected to a GET of it.
        location = /timeline.json { }
        location = /pickup.json { }
        location /pointretrait-ws-cxf/ { error_page 405 =200 /pickup.json; try_files /pickup.json =404; }
        location / { error_page 405 =200 /timeline.json; try_files /timeline.json =404; }
    }
}
CONF
cat >"$W/proxy.conf" <<CONF
worker_processes 1;
pid $W/proxy.pid;
error_log $W/proxy.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_body_buffer_size 64k;
    client_body_temp_path $W/tmp/px_body;
    proxy_temp_path $W/tmp/px_proxy;
    fastcgi_temp_path $W/tmp/px_fcgi;
    uwsgi_temp_path $W/tmp/px_uwsgi;
    scgi_temp_path $W/tmp/px_scgi;
    upstream carrier {
        server 127.0.0.1:$UP_PORT;
        keepalive 128;
        keepalive_requests 10000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$NGX_PORT backlog=4096;
        location / {
            proxy_pass http://carrier;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
            proxy_buffer_size 16k;
            proxy_buffers 8 16k;
        }
    }
}
CONF

wait_port() {
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    log "port $1 never opened"; return 1
}

taskset -c "$CLIENT_CPU" "$NGINX" -p "$W" -c "$W/upstream.conf" -g 'daemon off; master_process on;' &
PIDS+=($!)
taskset -c "$PROXY_CPU" "$NGINX" -p "$W" -c "$W/proxy.conf" -g 'daemon off; master_process on;' &
NGX_PID=$!
PIDS+=($NGX_PID)
wait_port "$UP_PORT"
wait_port "$NGX_PORT"
PGR_PID=""
if [ "$PINGORA_PEER" = 1 ]; then
    taskset -c "$PROXY_CPU" "$PINGORA" --listen "127.0.0.1:$PGR_PORT" --upstream "127.0.0.1:$UP_PORT" 2>"$W/pingora.err" &
    PGR_PID=$!
    PIDS+=($PGR_PID)
    wait_port "$PGR_PORT" || { cat "$W/pingora.err" >&2; exit 1; }
fi

# --- Sesame ----------------------------------------------------------------------------------
OPERATOR="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
UP_PASSWORD="carrier-secret-2026"
cat >"$W/sesame.toml" <<CONF
[listen]
public = "127.0.0.1:$SES_PORT"
admin = "127.0.0.1:$ADM_PORT"
ops = "127.0.0.1:$OPS_PORT"
simulator = "127.0.0.1:$SIM_PORT"

[database]
url = "sqlite://$W/sesame.db"

[log]
level = "warn"

[gateway]
upstream_url = "http://127.0.0.1:$UP_PORT"

[gateway.rate_limit]
per_key_per_sec = 1000000000
per_account_per_sec = 1000000000
burst = 1000000000

[admin]
public_url = "http://127.0.0.1:$ADM_PORT"
CONF
CONFIGS=()
[ -f "$ROOT/config/default.toml" ] && CONFIGS+=(--config "$ROOT/config/default.toml")
CONFIGS+=(--config "$W/sesame.toml")
(
    cd "$W"
    export SESAME__SECRETS__SERVER_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    export SESAME__SECRETS__MASTER_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    export SESAME__SECRETS__OPERATOR_TOKEN="$OPERATOR"
    exec taskset -c "$PROXY_CPU" "$SESAME" "${CONFIGS[@]}" --worker-threads 1 serve >"$W/sesame.log" 2>&1
) &
SES_PID=$!
PIDS+=($SES_PID)
wait_port "$ADM_PORT" || { cat "$W/sesame.log" >&2; exit 1; }
wait_port "$SES_PORT"

ADMIN="http://127.0.0.1:$ADM_PORT"
api() { # method path bearer [json]
    local out
    if [ -n "${4:-}" ]; then
        out=$(curl -sS --fail-with-body -X "$1" "$ADMIN$2" ${3:+-H "Authorization: Bearer $3"} -H 'Content-Type: application/json' -d "$4" 2>&1) || { log "admin API $1 $2: $out"; exit 1; }
    else
        out=$(curl -sS --fail-with-body -X "$1" "$ADMIN$2" ${3:+-H "Authorization: Bearer $3"} 2>&1) || { log "admin API $1 $2: $out"; exit 1; }
    fi
    printf '%s' "$out"
}
log "seeding Sesame through its admin API"
PW="Bench-pass-2026"
api POST /admin/v1/accounts "$OPERATOR" "$(jq -nc --arg pw "$PW" --arg up "$UP_PASSWORD" '{number:"900138",company:"TELINTRANS",contractType:"PRIVILEGE",
    entitlements:["ws_postage","ws_tracking","ws_pickup_point","ws_eligibility","tracking_tool:all"],adminPassword:$pw,
    upstreamLogin:"900138",upstreamPassword:$up,departments:["Logistique"]}')" >/dev/null
ADMIN_TOKEN=$(api POST /admin/v1/sessions "" "$(jq -nc --arg pw "$PW" '{accountNumber:"900138",password:$pw}')" | jq -r .token)
api POST /admin/v1/accounts/900138/advanced-users "$ADMIN_TOKEN" "$(jq -nc '{lastName:"Bench",firstName:"Load",function:"Logisticien",
    phone:"0241742088",email:"load.bench@example.fr",emailConfirmation:"load.bench@example.fr",address:"1 rue de la Poste",
    postalCode:"75001",city:"Paris",tag:"ENTREPOT-NORD",rights:["ws_tracking","ws_pickup_point"]}')" >/dev/null
INVITE=$(api GET /admin/v1/outbox "$OPERATOR" | jq -r '[.items[] | select(.to=="load.bench@example.fr") | .body][0]' |
    grep -o '/admin/v1/invitations/[^ )",]*' | head -1 | sed 's/[.]$//')
[ -n "$INVITE" ] || { log "no invitation e-mail in the outbox"; exit 1; }
KEY=$(api POST "$INVITE" "" "$(jq -nc --arg pw "$PW" '{login:"load-bench",password:$pw,passwordConfirmation:$pw}')" | jq -r .connectionKey)
[ -n "$KEY" ] && [ "$KEY" != null ] || { log "no connection key"; exit 1; }

# --- requests --------------------------------------------------------------------------------
TRACK_PATH=/tracking-timeline-ws/rest/tracking/timelineCompany
PICK_PATH=/pointretrait-ws-cxf/rest/v2/pointretrait/findRDVPointRetraitAcheminement
body() { # scenario direct|key
    case "$1:$2" in
    tracking:direct) jq -nc --arg pw "$UP_PASSWORD" '{login:"900138",password:$pw,parcelNumber:"6A39138643271",lang:"fr_FR"}' ;;
    tracking:key) jq -nc --arg k "$KEY" '{apiKey:$k,parcelNumber:"6A39138643271",lang:"fr_FR"}' ;;
    pickup:direct) jq -nc --arg pw "$UP_PASSWORD" '{accountNumber:"900138",password:$pw,address:"1 rue de la Poste",zipCode:"75001",city:"Paris",countryCode:"FR",weight:"1000",shippingDate:"22/11/2026",filterRelay:"1",lang:"FR",optionInter:"0"}' ;;
    pickup:key) jq -nc --arg k "$KEY" '{apikey:$k,address:"1 rue de la Poste",zipCode:"75001",city:"Paris",countryCode:"FR",weight:"1000",shippingDate:"22/11/2026",filterRelay:"1",lang:"FR",optionInter:"0"}' ;;
    esac
}
path() { [ "$1" = tracking ] && echo "$TRACK_PATH" || echo "$PICK_PATH"; }
script() { # scenario direct|key -> lua file
    local f="$W/$1-$2.lua"
    {
        echo 'wrk.method = "POST"'
        echo 'wrk.headers["Content-Type"] = "application/json"'
        printf 'wrk.body = [==[%s]==]\n' "$(body "$1" "$2")"
        cat <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.1f %.1f %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
LUA
    } >"$f"
    echo "$f"
}

# Each target answers as the upstream does (Sesame: the key was accepted and swapped).
CHECKS=("$UP_PORT:direct" "$NGX_PORT:direct" "$SES_PORT:key")
if [ "$PINGORA_PEER" = 1 ]; then CHECKS+=("$PGR_PORT:direct"); fi
for sc in $SCENARIOS; do
    want=$([ "$sc" = tracking ] && echo '"code":"0"' || echo '"errorCode":0')
    for t in "${CHECKS[@]}"; do
        got=$(curl -sS -X POST "http://127.0.0.1:${t%%:*}$(path "$sc")" -H 'Content-Type: application/json' -d "$(body "$sc" "${t#*:}")")
        case "$got" in *"$want"*) ;; *) log "unexpected answer from port ${t%%:*} ($sc): $got"; exit 1 ;; esac
    done
done

if [ "${HOLD:-0}" = 1 ]; then
    log "HOLD=1: Sesame pid $SES_PID on 127.0.0.1:$SES_PORT (ops $OPS_PORT), nginx proxy pid $NGX_PID on :$NGX_PORT, upstream :$UP_PORT"
    if [ "$PINGORA_PEER" = 1 ]; then log "        pingora peer pid $PGR_PID on :$PGR_PORT"; fi
    for sc in $SCENARIOS; do
        log "  $sc: wrk -t1 -c$CONNECTIONS -d10s -s $(script "$sc" key) http://127.0.0.1:$SES_PORT$(path "$sc")"
        log "  $sc: wrk -t1 -c$CONNECTIONS -d10s -s $(script "$sc" direct) http://127.0.0.1:$NGX_PORT$(path "$sc")"
        if [ "$PINGORA_PEER" = 1 ]; then
            log "  $sc: wrk -t1 -c$CONNECTIONS -d10s -s $(script "$sc" direct) http://127.0.0.1:$PGR_PORT$(path "$sc")"
        fi
    done
    log "Ctrl-C (or kill $$) to stop"
    while sleep 3600; do :; done
fi

HZ=$(getconf CLK_TCK)
cpu_ticks() { # pids… -> utime+stime of the processes (threads included), children's too
    local total=0 p
    for p in "$@"; do
        for q in "$p" $(cat /proc/"$p"/task/*/children 2>/dev/null); do
            [ -r /proc/"$q"/stat ] || continue
            total=$((total + $(sed 's/^.*) //' /proc/"$q"/stat | awk '{print $12 + $13}')))
        done
    done
    echo "$total"
}

run_one() { # target scenario -> "rps p50_us p99_us cpu_us_per_req errors"
    local target=$1 sc=$2 port mode pid
    case $target in
    A) port=$UP_PORT; mode=direct; pid="" ;;
    B) port=$NGX_PORT; mode=direct; pid=$NGX_PID ;;
    C) port=$SES_PORT; mode=key; pid=$SES_PID ;;
    D) port=$PGR_PORT; mode=direct; pid=$PGR_PID ;;
    esac
    local lua; lua=$(script "$sc" "$mode")
    local before=0 after=0
    [ -n "$pid" ] && before=$(cpu_ticks "$pid")
    local out
    out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$lua" "http://127.0.0.1:$port$(path "$sc")" | grep '^RESULT')
    [ -n "$pid" ] && after=$(cpu_ticks "$pid")
    set -- $out
    local req=$2 dur=$3 p50=$4 p99=$5 err=$6
    awk -v r="$req" -v d="$dur" -v a="$p50" -v b="$p99" -v c=$((after - before)) -v hz="$HZ" -v e="$err" -v has="${pid:+1}" \
        'BEGIN { cpu = has ? c * 1e6 / hz / r : 0; printf "%.0f %.0f %.0f %.2f %d\n", r * 1e6 / d, a, b, cpu, e }'
}

log "warm-up"
for sc in $SCENARIOS; do for t in $TARGETS; do DURATION=2 run_one "$t" "$sc" >/dev/null; done; done

RES="$W/results.txt"
: >"$RES"
for sc in $SCENARIOS; do
    for r in $(seq 1 "$ROUNDS"); do
        for t in $TARGETS; do
            line=$(run_one "$t" "$sc")
            echo "$sc $r $t $line" >>"$RES"
            log "$sc round $r $t: $line   (req/s p50µs p99µs cpu-µs/req errors)"
        done
    done
done

# --- report ----------------------------------------------------------------------------------
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo "?")
NGINX_V=$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')
TITLE="Sesame vs nginx proxy_pass"; PEER_V=""; PEER_CONF=""
if [ "$PINGORA_PEER" = 1 ]; then
    TITLE="$TITLE (and a pingora peer)"
    PEER_V=", pingora $(awk '$0 == "name = \"pingora\"" { getline; gsub(/[^0-9.]/, ""); print }' "$PEER_DIR/Cargo.lock")"
    PEER_CONF="; pingora peer: 1 worker thread"
fi
ratios() { # scenario target -> one table row: target/B per round, median [min–max], per measure
    awk -v sc="$1" -v t="$2" '
        $1 == sc { v[$2, $3, 1] = $4; v[$2, $3, 2] = $5; v[$2, $3, 3] = $6; v[$2, $3, 4] = $7; if ($2 > n) n = $2 }
        function med(a, k,   i, j, s) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { s = a[i]; a[i] = a[j]; a[j] = s }
            return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
        END {
            printf "| %s ", sc
            for (m = 1; m <= 4; m++) {
                delete x; lo = 1e18; hi = -1
                for (r = 1; r <= n; r++) { q = (v[r, "B", m] > 0) ? v[r, t, m] / v[r, "B", m] : 0; x[r] = q; if (q < lo) lo = q; if (q > hi) hi = q }
                printf "| **%.2f** [%.2f–%.2f] ", med(x, n), lo, hi
            }
            print "|"
        }' "$RES"
}
report() {
    echo "# Load run: $TITLE"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $REV, $(nproc) CPUs ($CPU_MODEL), $(uname -r), nginx $NGINX_V$PEER_V, wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')."
    echo "Proxies pinned to CPU $PROXY_CPU (nginx: 1 worker process; Sesame: \`--worker-threads 1\`$PEER_CONF), wrk (1 thread, $CONNECTIONS connections) and"
    echo "the upstream nginx on CPU $CLIENT_CPU; $ROUNDS rounds of ${DURATION} s, $TARGETS interleaved; loopback HTTP/1.1 keep-alive."
    echo
    echo "Ratios C/B (Sesame / nginx), median over rounds [min–max]; throughput ≥ 1 and latency ≤ 1 meet SPEC §8:"
    echo
    echo "| scenario | throughput | p50 latency | p99 latency | CPU time / request |"
    echo "|---|---|---|---|---|"
    for sc in $SCENARIOS; do ratios "$sc" C; done
    if [ "$PINGORA_PEER" = 1 ]; then
        echo
        echo "Ratios D/B (pingora peer / nginx, both only relaying bytes), median over rounds [min–max]:"
        echo
        echo "| scenario | throughput | p50 latency | p99 latency | CPU time / request |"
        echo "|---|---|---|---|---|"
        for sc in $SCENARIOS; do ratios "$sc" D; done
    fi
    echo
    echo "Medians over rounds:"
    echo
    echo "| scenario | target | requests/s | p50 µs | p99 µs | proxy CPU µs/request | errors |"
    echo "|---|---|---|---|---|---|---|"
    for sc in $SCENARIOS; do
        for t in $TARGETS; do
            awk -v sc="$sc" -v t="$t" '
                function med(a, k,   i, j, s) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { s = a[i]; a[i] = a[j]; a[j] = s }
                    return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
                $1 == sc && $3 == t { n++; a[n] = $4; b[n] = $5; c[n] = $6; d[n] = $7; e += $8 }
                END {
                    name = (t == "A") ? "A upstream direct" : (t == "B") ? "B nginx proxy_pass" : (t == "C") ? "C Sesame" : "D pingora peer"
                    printf "| %s | %s | %.0f | %.0f | %.0f | %s | %d |\n", sc, name, med(a, n), med(b, n), med(c, n), (t == "A") ? "—" : sprintf("%.1f", med(d, n)), e
                }' "$RES"
        done
    done
    echo
    echo "Raw rounds (scenario round target req/s p50µs p99µs cpu-µs/req errors):"
    echo
    echo '```'
    cat "$RES"
    echo '```'
}
mkdir -p "$ROOT/benches/results"
report | tee "$ROOT/benches/results/latest.md"
