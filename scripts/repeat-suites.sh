#!/usr/bin/env bash
# Run every shipped mock suite N times in a row (default 20), each with its own seed, and
# count false failures: any run that does not pass. Prints one line per suite and exits 1
# if any run failed, naming its run directory and failed ids.
#
#   scripts/repeat-suites.sh [N] [SUITE...]      (builds the release binary first)
#
# Suites that need a GPU or a real engine are left out; the defaults are every suite under
# suites/ whose service is `shakedown mock-server`.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
shift || true
cargo build --release --quiet
bin=target/release/shakedown
if [ $# -gt 0 ]; then
  suites=("$@")
else
  mapfile -t suites < <(grep -l '"shakedown", "mock-server"' suites/*/*.toml suites/*/*/*.toml 2>/dev/null | sort)
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/shakedown-repeat.XXXXXX")
bad=0
for suite in "${suites[@]}"; do
  pass=0
  for i in $(seq 1 "$n"); do
    dir="$out/$(basename "$suite" .toml)-$i"
    if "$bin" run "$suite" --seed "$i" --run-dir "$dir" --quiet >"$dir.out" 2>&1; then
      pass=$((pass + 1))
    else
      bad=$((bad + 1))
      ids=$(grep -o '\[[a-z_.]*\]' "$dir.out" | tr '\n' ' ' || true)
      echo "  FAILED: $suite seed $i: ${ids:-(no failed id: $(head -1 "$dir.out"))} ($dir)"
    fi
  done
  echo "$suite: $pass of $n passed"
done
echo "run directories: $out"
[ "$bad" -eq 0 ]
