#!/usr/bin/env bash
# Instructions per routed request inside `serve`, counted by valgrind's callgrind: the
# release gateway runs under callgrind against the loopback stub, a closed loop of 2
# clients sends `model: "auto"` chat requests for DURATION seconds, then the gateway is
# stopped (SIGTERM) and the counts are split by function. Instruction counts do not depend
# on what else the machine is doing, so before/after comparisons of a change hold even on
# a busy machine; wall-clock figures come from bench/overhead.sh.
#
#   bench/callgrind.sh                      # models/default, 20 s
#   ROUTER_DIR=/path/to/router DURATION=10 bench/callgrind.sh
#   SERVE_BIN=/tmp/serve-old NO_BUILD=1 bench/callgrind.sh   # another build, e.g. a baseline commit
#
# Prints the instructions per request (only the measured window is instrumented: startup,
# warm-up and shutdown are not counted) and the main parts of the request path per
# request. The raw profile stays in $OUT (callgrind_annotate it).
set -euo pipefail

cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
DURATION=${DURATION:-20}
ROUTER=${ROUTER_DIR:-models/default}
STUB_PORT=${STUB_PORT:-18191}
GATEWAY_PORT=${GATEWAY_PORT:-18190}
OUT=${OUT:-$(mktemp -d -t arbiter-callgrind.XXXXXX)}
EX=target/release/examples

command -v valgrind >/dev/null || { apt-get install -y valgrind >&2 || { apt-get update >&2 && apt-get install -y valgrind >&2; }; }
if [[ -z "${NO_BUILD:-}" ]]; then
  cargo build --release -p serve --bin serve --examples >&2
fi

"$EX/bench_artifact" config --router-dir "$ROUTER" --upstream "http://127.0.0.1:$STUB_PORT/v1" \
  --log-dir "$OUT/decisions" --listen "127.0.0.1:$GATEWAY_PORT" > "$OUT/gateway.toml"
"$EX/bench_stub_upstream" --listen "127.0.0.1:$STUB_PORT" --threads 1 > "$OUT/stub.log" 2>&1 &
STUB=$!
# Instrumentation starts off: startup, the warm-up and shutdown are not counted, only the
# measured window (switched with callgrind_control around it).
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.out" \
  "${SERVE_BIN:-target/release/serve}" --config "$OUT/gateway.toml" > "$OUT/gateway.log" 2>&1 &
GW=$!
trap 'kill $STUB $GW 2>/dev/null || true' EXIT
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$GATEWAY_PORT/readyz" >/dev/null && break
  sleep 0.2
done
LOAD=("$EX/bench_loadgen" --url "http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions" --concurrency 2 --warmup 0)
"${LOAD[@]}" --duration 2 >/dev/null 2>&1
callgrind_control -i on "$GW" >/dev/null
RUN=$("${LOAD[@]}" --duration "$DURATION" 2>&1 | tail -n 1)
sleep 0.1 # the writer thread's last batch
callgrind_control -i off "$GW" >/dev/null
echo "$RUN" >&2
REQUESTS=$(sed -E 's/^run: ([0-9]+) ok.*/\1/' <<<"$RUN")
kill -TERM "$GW"
wait "$GW" || true
kill "$STUB" 2>/dev/null || true

callgrind_annotate --inclusive=yes "$OUT/callgrind.out" 2>/dev/null > "$OUT/inclusive.txt"
ir() { # a function's inclusive count: the largest of the lines naming it (callgrind splits a
  # function's entry by the source file its inlined code came from; the whole is the largest)
  awk -v s="$1" 'index($0, s) { gsub(",", "", $1); if ($1 + 0 > max) max = $1 + 0 } END { printf "%.0f\n", max }' "$OUT/inclusive.txt"
}
TOTAL=$(ir "PROGRAM TOTALS")
per() { awk -v a="$1" -v n="$REQUESTS" 'BEGIN { printf "%.0f", a / n }'; }
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- serve models || echo ' (+ uncommitted changes)'); router $ROUTER; $REQUESTS requests"
echo "instructions in the measured window: $TOTAL; per request: $(per "$TOTAL")"
for part in "OnnxScorer::featurize_one|featurize" "OnnxScorer::score_features|ONNX Runtime run" \
  "serve::decision::decide_auto|decide (policy + record)" "serve::audit::writer::Writer::run|decision log writer thread" \
  "serve::upstream::forward::forward::{{closure}}|forward upstream"; do
  echo "  $(per "$(ir "${part%%|*}")") ${part#*|}"
done
echo "profile: $OUT/callgrind.out"
