#!/usr/bin/env bash
# The closed loop at scale: does a router get better on a team's own traffic, and does the
# replay estimate say so before it is deployed? On ZeroEval GSM8K (43 models with known
# outcomes), with a router that never saw that set:
# 1. L = `train --exclude-datasets zeroeval_gsm` (every other permissive set).
# 2. Logged run: L behind the gateway binary with exploration (ε 0.3 within 0.1 of the
#    winner), objective `cost`, on the set's train-split prompts; simulated users answer
#    with the benchmark outcome of the model that answered (simulate_traffic).
# 3. `train ingest` → R = the same training plus `--traffic` (the ingested rows).
# 4. `train eval --replay` of L and of R on the logged run, before R serves anything.
# 5. R and L served greedily on the same train-split prompts (R's measured value against
#    its replay estimate) and on the test-split prompts, which no router trained on (the
#    gain on unseen prompts, paired).
# Writes bench/results/closed-loop-sim-<date>.md. About 10 minutes on 2 vCPUs (two trainings).
#
#   bench/closed_loop_sim.sh
# Environment: BIN (target/debug; `train` at opt-level 1 with dependencies at 2),
# SERVE (target/release/serve if built, else $BIN/serve), EPOCHS (training default), L_DIR (an
# already trained L, to skip step 1's training).
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
export ROUTER_DATA_DIR
ROUTER_DATA_DIR=$(realpath -m "${ROUTER_DATA_DIR:-../shared/data}")
BIN=${BIN:-target/debug}
SERVE=${SERVE:-target/release/serve}
[[ -x $SERVE ]] || SERVE=$BIN/serve
EX=$BIN/examples
source bench/work_dir.sh
EPOCHS_ARG=()
[[ -n "${EPOCHS:-}" ]] && EPOCHS_ARG=(--epochs "$EPOCHS")

"$EX/bench_stub_upstream" --listen 127.0.0.1:18691 --latency-ms 0 --threads 1 > "$WORK/stub.log" 2>&1 &
PIDS+=($!)
GW_PID=
gateway() { # router port [extra toml]: stops the previous gateway, starts this one
  [[ -n $GW_PID ]] && { kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; }
  local name; name=$(basename "$1")-$2
  "$EX/bench_artifact" config --router-dir "$1" --upstream http://127.0.0.1:18691/v1 \
    --log-dir "$WORK/logs-$name" --listen "127.0.0.1:$2" > "$WORK/$name.toml"
  sed -i '/^\[audit\]/a log_prompts = true' "$WORK/$name.toml"
  printf '%b' "${3:-}" >> "$WORK/$name.toml"
  "$SERVE" --config "$WORK/$name.toml" > "$WORK/$name.log" 2>&1 &
  GW_PID=$!
  PIDS+=($GW_PID)
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && return 0; sleep 0.1; done
  cat "$WORK/$name.log" >&2; exit 1
}
simulate() { # port split
  "$EX/simulate_traffic" --gateway "http://127.0.0.1:$1" --data "$ROUTER_DATA_DIR" \
    --dataset zeroeval_gsm --split "$2" --objective cost
}

t0=$(date +%s)
if [[ -n "${L_DIR:-}" ]]; then
  echo "== 1. L from $L_DIR" >&2
  cp -r "$L_DIR" "$WORK/L"
else
  echo "== 1. training L without zeroeval_gsm" >&2
  "$BIN/train" --data "$ROUTER_DATA_DIR" --out "$WORK/L" --exclude-datasets zeroeval_gsm "${EPOCHS_ARG[@]}" > "$WORK/train-L.txt"
fi
echo "== 2. logged run (exploration on)" >&2
gateway "$WORK/L" 18690 '\n[routing.explore]\nepsilon = 0.3\nband = 0.1\n'
LOGGED=$(simulate 18690 train)
LOGS="$WORK/logs-L-18690"
echo "== 3. ingest, train R with the traffic" >&2
"$BIN/train" ingest --decisions "$LOGS" --out "$WORK/traffic/traffic.jsonl" > "$WORK/ingest.txt"
"$BIN/train" --data "$ROUTER_DATA_DIR" --out "$WORK/R" --exclude-datasets zeroeval_gsm --traffic "$WORK/traffic" "${EPOCHS_ARG[@]}" > "$WORK/train-R.txt"
echo "== 4. replay L and R on the logged run" >&2
"$BIN/train" eval --replay "$LOGS" --model "$WORK/L" --out "$WORK/replay-L" > /dev/null
"$BIN/train" eval --replay "$LOGS" --model "$WORK/R" --out "$WORK/replay-R" > /dev/null
echo "== 5. greedy runs" >&2
gateway "$WORK/L" 18692; L_TRAIN=$(simulate 18692 train); L_TEST=$(simulate 18692 test)
gateway "$WORK/R" 18694; R_TRAIN=$(simulate 18694 train); R_TEST=$(simulate 18694 test)
t1=$(date +%s)

row() { jq -r --arg l "$1" '"| \($l) | \(.judged) | \(.value * 1000 | round / 1000) [\(.value_ci[0] * 1000 | round / 1000), \(.value_ci[1] * 1000 | round / 1000)] | \(.mean_cost_usd * 1e6 | round / 1e6) |"' <<<"$2"; }
est() { jq -r --arg l "$1" '.replay as $r | "| \($l) | \($r.used) | \($r.quality.dr.value * 1000 | round / 1000) [\($r.quality.dr.interval.lo * 1000 | round / 1000), \($r.quality.dr.interval.hi * 1000 | round / 1000)] (SNIPS \($r.quality.snips.value * 1000 | round / 1000)) | \($r.cost.dr.value * 1e6 | round / 1e6) | ESS \($r.effective_sample_size | round) |"' "$2"; }
mkdir -p bench/results
OUT=bench/results/closed-loop-sim-$(date -u +%Y-%m-%d).md
{
  echo "# Closed loop on ZeroEval GSM8K ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $((t1 - t0)) s in all)"
  echo
  echo "Objective \`cost\`; each request offers the models with an outcome for its prompt; value = mean outcome of the model that answered, 95% bootstrap interval; cost = realised USD per request at catalog prices."
  echo
  echo "| run | prompts judged | value [95% CI] | mean cost |"
  echo "|---|---:|---:|---:|"
  row "logged: L with exploration, train split" "$LOGGED"
  row "L greedy, train split" "$L_TRAIN"
  row "R greedy, train split" "$R_TRAIN"
  row "L greedy, test split (unseen)" "$L_TEST"
  row "R greedy, test split (unseen)" "$R_TEST"
  echo
  echo "Replay estimates from the logged run (doubly robust, before the router served anything):"
  echo
  echo "| router | records | value DR [95% CI] | cost DR | |"
  echo "|---|---:|---:|---:|---|"
  est L "$WORK/replay-L/metrics.json"
  est R "$WORK/replay-R/metrics.json"
  echo
  echo '```'
  cat "$WORK/ingest.txt"
  echo '```'
} | tee "$OUT"
