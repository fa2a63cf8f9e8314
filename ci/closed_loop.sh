#!/usr/bin/env bash
# The closed loop end to end, small (run by .ci/run after the tests, on the binaries the test
# build made): the real gateway binary with the shipped router in front of a loopback stub
# upstream, simulated users whose feedback is the benchmark outcome of the model that
# answered (train/examples/simulate_traffic.rs), on ZeroEval GSM8K prompts.
# 1. Exploration on (ε 0.3 within 0.1 of the winner), objective `cost`: the logged run.
# 2. `train ingest` turns its records and feedback into training rows.
# 3. `train eval --replay` estimates the greedy policy (the same router, no exploration) from
#    those logs; a second gateway without exploration then serves the same prompts, and its
#    measured value must fall within the interval of the doubly robust estimate with the
#    calibrated direct model.
# 4. Drift: a third gateway; halfway, the most served model's answers start scoring 0, and its
#    realised-quality average in /metrics must fall by at least 0.2.
# A larger run that also retrains on the ingested traffic: bench/closed_loop_sim.sh.
#
#   bash ci/closed_loop.sh          # ~1 minute; needs the debug build of the workspace
set -euo pipefail
cd "$(dirname "$0")/.."
export ROUTER_DATA_DIR
ROUTER_DATA_DIR=$(realpath -m "${ROUTER_DATA_DIR:-../shared/data}")
BIN=${BIN:-target/debug}
N=${N:-150}
for b in serve train examples/bench_stub_upstream examples/bench_artifact examples/simulate_traffic; do
  [[ -x "$BIN/$b" ]] || { echo "missing $BIN/$b: build the workspace's targets first (cargo test --workspace --all-targets --no-run)" >&2; exit 1; }
done
source bench/work_dir.sh

"$BIN/examples/bench_stub_upstream" --listen 127.0.0.1:18591 --latency-ms 0 --threads 1 > "$WORK/stub.log" 2>&1 &
PIDS+=($!)
gateway() { # name port [extra toml]
  "$BIN/examples/bench_artifact" config --router-dir models/default --upstream http://127.0.0.1:18591/v1 \
    --log-dir "$WORK/$1" --listen "127.0.0.1:$2" > "$WORK/$1.toml"
  sed -i '/^\[audit\]/a log_prompts = true' "$WORK/$1.toml"
  printf '%b' "${3:-}" >> "$WORK/$1.toml"
  "$BIN/serve" --config "$WORK/$1.toml" > "$WORK/$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && return 0; sleep 0.1; done
  cat "$WORK/$1.log" >&2; echo "gateway $1 did not start" >&2; exit 1
}
simulate() { # port [args...]
  local port=$1; shift
  "$BIN/examples/simulate_traffic" --gateway "http://127.0.0.1:$port" --data "$ROUTER_DATA_DIR" \
    --dataset zeroeval_gsm --split test --objective cost "$@"
}
metric() { # port name model
  curl -sf "http://127.0.0.1:$1/metrics" | awk -v k="$2{model=\"$3\"}" '$1 == k { print $2 }'
}

echo "== 1. logged run: exploration on" >&2
gateway logged 18590 '\n[routing.explore]\nepsilon = 0.3\nband = 0.1\n'
LOGGED=$(simulate 18590 --limit "$N")
echo "logged: $LOGGED"
[[ $(jq .explored <<<"$LOGGED") -gt 0 ]] || { echo "FAIL: nothing was explored" >&2; exit 1; }

echo "== 2. train ingest" >&2
"$BIN/train" ingest --decisions "$WORK/logged" --out "$WORK/traffic/traffic.jsonl"
ROWS=$(wc -l < "$WORK/traffic/traffic.jsonl")
[[ $ROWS -gt 0 ]] || { echo "FAIL: ingest wrote no rows" >&2; exit 1; }

echo "== 3. replay the greedy policy, then serve it" >&2
"$BIN/train" eval --replay "$WORK/logged" --model models/default --out "$WORK/replay"
gateway greedy 18592
GREEDY=$(simulate 18592 --limit "$N")
echo "greedy: $GREEDY"
jq -en --slurpfile m "$WORK/replay/metrics.json" --argjson g "$GREEDY" '
  $m[0].replay.quality.dr_calibrated as $dr
  | ($g.value >= $dr.interval.lo and $g.value <= $dr.interval.hi)' >/dev/null || {
  echo "FAIL: measured value $(jq .value <<<"$GREEDY") outside the replay estimate $(jq -c '.replay.quality.dr_calibrated' "$WORK/replay/metrics.json")" >&2
  exit 1
}

echo "== 4. drift" >&2
gateway drift 18594
FIRST=$(simulate 18594 --limit "$((N / 2))" --source drift)
TOP=$(jq -r '.mix | to_entries | max_by(.value) | .key' <<<"$FIRST")
BEFORE=$(metric 18594 arbiter_model_realised_quality_ewma "$TOP")
simulate 18594 --offset "$((N / 2))" --limit "$N" --source drift --worsen "$TOP" > /dev/null
AFTER=$(metric 18594 arbiter_model_realised_quality_ewma "$TOP")
echo "drift: $TOP realised quality $BEFORE -> $AFTER"
awk -v b="$BEFORE" -v a="$AFTER" 'BEGIN { exit !(b - a >= 0.2) }' || { echo "FAIL: the drift metric did not move" >&2; exit 1; }
echo "closed loop OK: $ROWS training rows; replay $(jq -c '.replay.quality.dr_calibrated | [.value, .interval.lo, .interval.hi]' "$WORK/replay/metrics.json") vs measured $(jq .value <<<"$GREEDY")"
