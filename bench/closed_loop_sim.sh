#!/usr/bin/env bash
# The closed loop at scale: does a router get better on a team's own traffic, and does the
# replay estimate say so before it is deployed? On ZeroEval GSM8K (43 models with known
# outcomes), with a router that never saw that set:
# 1. L = `train --exclude-datasets zeroeval_gsm` (every other permissive set).
# 2. Logged runs: L behind the gateway binary with exploration (ε 1 within 0.3 of the
#    winner's utility: uniform over the near-best candidates, so every model a retrained router
#    might pick gets labels), objective `cost`, on the set's train-split prompts, in two halves
#    A and B with separate logs; simulated users answer with the benchmark outcome of the model
#    that answered (simulate_traffic). (EPSILON and BAND change the exploration.)
# 3. `train ingest` of half A → R = L's training data plus `--traffic` (trained afresh) and
#    R' = `--init-from L` plus the traffic (fine-tuned).
# 4. `train eval --replay` of L, R and R' on half B's logs (prompts none of them trained on),
#    before R or R' serves anything.
# 5. L, R and R' served greedily on half B's prompts (the measured values the replay
#    estimated) and on the test split (unseen prompts).
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
simulate() { # port split name [simulate_traffic args...]: per-prompt outcomes in $WORK/name.jsonl
  local port=$1 split=$2 name=$3; shift 3
  "$EX/simulate_traffic" --gateway "http://127.0.0.1:$port" --data "$ROUTER_DATA_DIR" \
    --dataset zeroeval_gsm --split "$split" --objective cost --outcomes "$WORK/$name.jsonl" "$@"
}

t0=$(date +%s)
if [[ -n "${L_DIR:-}" ]]; then
  echo "== 1. L from $L_DIR" >&2
  cp -r "$L_DIR" "$WORK/L"
else
  echo "== 1. training L without zeroeval_gsm" >&2
  "$BIN/train" --data "$ROUTER_DATA_DIR" --out "$WORK/L" --exclude-datasets zeroeval_gsm "${EPOCHS_ARG[@]}" > "$WORK/train-L.txt"
fi
# SAVE_L=DIR keeps a copy of L (e.g. to pass as L_DIR to a run with other exploration settings).
[[ -n "${SAVE_L:-}" ]] && { rm -rf "$SAVE_L"; cp -r "$WORK/L" "$SAVE_L"; }
HALF=${HALF:-420}
EPSILON=${EPSILON:-1}
BAND=${BAND:-0.3}
echo "== 2. logged runs (exploration on): halves A and B" >&2
EXPLORE="\n[routing.explore]\nepsilon = $EPSILON\nband = $BAND\n"
gateway "$WORK/L" 18690 "$EXPLORE"
LOGGED_A=$(simulate 18690 train logged-A --limit "$HALF")
gateway "$WORK/L" 18696 "$EXPLORE"
LOGGED_B=$(simulate 18696 train logged-B --offset "$HALF")
LOGS_A="$WORK/logs-L-18690"
LOGS_B="$WORK/logs-L-18696"
echo "== 3. ingest A; train R (afresh) and R' (fine-tuned from L)" >&2
"$BIN/train" ingest --decisions "$LOGS_A" --out "$WORK/traffic/traffic.jsonl" > "$WORK/ingest.txt"
"$BIN/train" --data "$ROUTER_DATA_DIR" --out "$WORK/R" --exclude-datasets zeroeval_gsm --traffic "$WORK/traffic" "${EPOCHS_ARG[@]}" > "$WORK/train-R.txt"
"$BIN/train" --data "$ROUTER_DATA_DIR" --out "$WORK/Rft" --exclude-datasets zeroeval_gsm --traffic "$WORK/traffic" --init-from "$WORK/L" "${EPOCHS_ARG[@]}" > "$WORK/train-Rft.txt"
echo "== 4. replay on B's logs" >&2
for m in L R Rft; do
  "$BIN/train" eval --replay "$LOGS_B" --model "$WORK/$m" --out "$WORK/replay-$m" > /dev/null
done
echo "== 5. greedy runs on B's prompts and on the test split" >&2
gateway "$WORK/L" 18692; L_B=$(simulate 18692 train L-B --offset "$HALF"); L_TEST=$(simulate 18692 test L-test)
gateway "$WORK/R" 18694; R_B=$(simulate 18694 train R-B --offset "$HALF"); R_TEST=$(simulate 18694 test R-test)
gateway "$WORK/Rft" 18698; F_B=$(simulate 18698 train Rft-B --offset "$HALF"); F_TEST=$(simulate 18698 test Rft-test)
t1=$(date +%s)

row() { jq -r --arg l "$1" '"| \($l) | \(.judged) | \(.value * 1000 | round / 1000) [\(.value_ci[0] * 1000 | round / 1000), \(.value_ci[1] * 1000 | round / 1000)] | \(.mean_cost_usd * 1e6 | round / 1e6) |"' <<<"$2"; }
est() { jq -r --arg l "$1" --argjson m "$(jq .value <<<"$3")" 'def r3: . * 1000 | round / 1000; .replay as $r | "| \($l) | \($r.used) | \($r.quality.dr_calibrated.value | r3) [\($r.quality.dr_calibrated.interval.lo | r3), \($r.quality.dr_calibrated.interval.hi | r3)]\(if $r.quality.dr_calibrated.interval.lo <= $m and $m <= $r.quality.dr_calibrated.interval.hi then " (contains \($m | r3))" else " (**misses \($m | r3)**)" end) | \($r.quality.dr.value | r3) [\($r.quality.dr.interval.lo | r3), \($r.quality.dr.interval.hi | r3)] | \($r.quality.snips.value | r3) [\($r.quality.snips.interval.lo | r3), \($r.quality.snips.interval.hi | r3)] | \($r.cost.dr.value * 1e6 | round / 1e6) | \($r.effective_sample_size | round), \($r.support * 100 | round)%\(if (($r.warnings // []) | length) > 0 then "; **too few effective records to trust**" else "" end) |"' "$2"; }
mkdir -p bench/results
OUT=bench/results/closed-loop-sim-$(date -u +%Y-%m-%d)-eps$EPSILON-band$BAND.md
{
  echo "# Closed loop on ZeroEval GSM8K ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $((t1 - t0)) s in all)"
  echo
  echo "Objective \`cost\`; each request offers the models with an outcome for its prompt; value = mean outcome of the model that answered, 95% bootstrap interval; cost = realised USD per request at catalog prices."
  echo
  echo "| run | prompts judged | value [95% CI] | mean cost |"
  echo "|---|---:|---:|---:|"
  row "logged A: L with exploration (R and R' train on it)" "$LOGGED_A"
  row "logged B: L with exploration (replayed)" "$LOGGED_B"
  row "L greedy, B prompts" "$L_B"
  row "R greedy, B prompts" "$R_B"
  row "R' greedy, B prompts" "$F_B"
  row "L greedy, test split" "$L_TEST"
  row "R greedy, test split" "$R_TEST"
  row "R' greedy, test split" "$F_TEST"
  echo
  echo "Replay estimates from logged run B (before R or R' served anything; none trained on B):"
  echo
  echo "| router | records | value DR, calibrated [95% CI] vs measured greedy on B | value DR [95% CI] | value SNIPS [95% CI] | cost DR | ESS, support |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  est L "$WORK/replay-L/metrics.json" "$L_B"
  est R "$WORK/replay-R/metrics.json" "$R_B"
  est "R'" "$WORK/replay-Rft/metrics.json" "$F_B"
  echo
  echo "Gains on B's prompts, paired by prompt (bench/paired_gain.py; utility = quality − 100 · USD, the \`cost\` objective):"
  echo
  echo "| new − old | quality [95% CI] | cost USD | utility [95% CI] |"
  echo "|---|---:|---:|---:|"
  for pair in "R-B logged-B" "Rft-B logged-B" "R-B L-B" "Rft-B L-B"; do
    read -r new old <<<"$pair"
    python3 bench/paired_gain.py "$WORK/$new.jsonl" "$WORK/$old.jsonl" | jq -r --arg l "$new − $old" 'def r3: . * 1000 | round / 1000; "| \($l) | \(.quality.mean | r3) [\(.quality.ci[0] | r3), \(.quality.ci[1] | r3)] | \(.cost_usd.mean * 1e6 | round / 1e6) | \(.utility.mean | r3) [\(.utility.ci[0] | r3), \(.utility.ci[1] | r3)] |"'
  done
  echo
  echo '```'
  cat "$WORK/ingest.txt"
  echo '```'
} | tee "$OUT"
