#!/usr/bin/env bash
# The closed loop's gateway costs, on the release build with the shipped router
# (models/default) and a loopback stub upstream:
# 1. POST /v1/feedback throughput (closed loop, CONCURRENCY clients, default durability),
#    against /v1/route throughput measured the same way in the same script: the ratio is
#    the figure (feedback ≥ 5,000 requests/s is the target on 2 vCPUs).
# 2. Exploration A/B: two gateways, exploration off and on (ε = 0.1 within a 0.05 band),
#    the same fixed-rate /v1/route load alternating between them REPEATS times; the router's
#    own time per decision (`router_us` of each record) compared as p50/p99.
# Prints a markdown table and writes it to bench/results/closed-loop-<date>.md.
#
#   bench/closed_loop.sh                    # ~2 minutes of load after the release build
#   DURATION=5 REPEATS=1 bench/closed_loop.sh
#
# Environment: DURATION (s per run, 10), CONCURRENCY (64), RATE (1000), REPEATS (3),
# NO_BUILD=1 (skip cargo build), ROUTER_DIR (models/default), AB_ORDER ("plain explore": which
# gateway goes first in each round).
set -euo pipefail

cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-64}
RATE=${RATE:-1000}
REPEATS=${REPEATS:-3}
ROUTER=${ROUTER_DIR:-models/default}
STUB_PORT=18281
EX=target/release/examples
SERVE_BIN=target/release/serve

if [[ -z "${NO_BUILD:-}" ]]; then
  echo "== building release binaries" >&2
  cargo build --release -p serve --bin serve --examples >&2
fi
command -v jq >/dev/null || { echo "jq is needed" >&2; exit 1; }
source bench/work_dir.sh

"$EX/bench_stub_upstream" --listen "127.0.0.1:$STUB_PORT" --latency-ms 0 --threads 1 > "$WORK/stub.log" 2>&1 &
PIDS+=($!)

start_gateway() { # name port [extra toml] → starts it, waits until ready
  local name=$1 port=$2 extra=${3:-}
  mkdir -p "$WORK/$name"
  "$EX/bench_artifact" config --router-dir "$ROUTER" --upstream "http://127.0.0.1:$STUB_PORT/v1" \
    --log-dir "$WORK/$name/decisions" --listen "127.0.0.1:$port" > "$WORK/$name/gateway.toml"
  printf '%b' "$extra" >> "$WORK/$name/gateway.toml"
  "$SERVE_BIN" --config "$WORK/$name/gateway.toml" > "$WORK/$name/gateway.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0
    sleep 0.1
  done
  cat "$WORK/$name/gateway.log" >&2
  echo "gateway $name did not start" >&2
  exit 1
}

start_gateway load 18284
start_gateway plain 18280
start_gateway explore 18282 '\n[routing.explore]\nepsilon = 0.1\nband = 0.05\n'
LOAD=http://127.0.0.1:18284
PLAIN=http://127.0.0.1:18280
EXPLORE=http://127.0.0.1:18282

# 1. Feedback throughput against /v1/route's, same clients, same gateway. Every feedback
# names one fresh decision (in memory, as feedback soon after the answer is), from one
# source: after the first, each is a replacement (lookup, index update, one log line).
ID=$(curl -sf -D - -o /dev/null -H 'content-type: application/json' \
  -d '{"model":"auto","messages":[{"role":"user","content":"What is 17 * 23?"}]}' \
  "$LOAD/v1/chat/completions" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-arbiter-decision-id" {print $2}')
[[ -n "$ID" ]] || { echo "no decision id" >&2; exit 1; }
printf '{"decision_id":"%s","score":1,"source":"bench"}' "$ID" > "$WORK/feedback.json"
closed() { # label url [body file]
  local body=()
  [[ -n "${3:-}" ]] && body=(--body-file "$3")
  "$EX/bench_loadgen" --url "$2" --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup 2 --json --label "$1" "${body[@]}"
}
echo "== closed loop, $CONCURRENCY clients: /v1/feedback" >&2
FEEDBACK=$(closed feedback "$LOAD/v1/feedback" "$WORK/feedback.json")
echo "== closed loop, $CONCURRENCY clients: /v1/route" >&2
ROUTE=$(closed route "$LOAD/v1/route")

# 2. Exploration A/B at a fixed rate; the router's time from each record.
router_us() { # log dir → "p50 p99" of router_us over its /v1/route records
  cat "$1"/decisions-*.jsonl | jq -r 'select(.endpoint == "route") | .router_us' | sort -g |
    awk '{ v[NR] = $1 } END { printf "%.1f %.1f %d", v[int(NR * 0.5) + 1], v[int(NR * 0.99) + 1], NR }'
}
for r in $(seq "$REPEATS"); do
  for g in ${AB_ORDER:-plain explore}; do
    url=$PLAIN; [[ $g == explore ]] && url=$EXPLORE
    echo "== fixed rate $RATE req/s, round $r/$REPEATS: exploration $g" >&2
    "$EX/bench_loadgen" --url "$url/v1/route" --rate "$RATE" --duration "$DURATION" --warmup 0 --json --label "$g" > /dev/null
  done
done
sleep 1
read -r P50_OFF P99_OFF N_OFF <<<"$(router_us "$WORK/plain/decisions")"
read -r P50_ON P99_ON N_ON <<<"$(router_us "$WORK/explore/decisions")"
# Served another candidate than the policy's winner (the record's reason says so).
EXPLORED=$(cat "$WORK/explore/decisions"/decisions-*.jsonl | jq -r 'select(.endpoint == "route" and (.reason | startswith("explored"))) | .id' | wc -l)

mkdir -p bench/results
OUT=bench/results/closed-loop-$(date -u +%Y-%m-%d).md
{
  echo "# Closed loop: feedback throughput and exploration A/B ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, router $(jq -r .name "$ROUTER/manifest.json"))"
  echo
  echo "| closed loop, $CONCURRENCY clients, ${DURATION} s | requests/s | p50 ms | p99 ms | errors |"
  echo "|---|---:|---:|---:|---:|"
  for j in "$ROUTE" "$FEEDBACK"; do
    jq -r '"| \(.label) | \(.throughput_rps | floor) | \(.p50_ms) | \(.p99_ms) | \(.http_errors + .transport_errors) |"' <<<"$j"
  done
  echo
  echo "feedback / route throughput: $(jq -rn --argjson f "$FEEDBACK" --argjson r "$ROUTE" '$f.throughput_rps / $r.throughput_rps * 100 | round / 100')"
  echo
  echo "| router time per decision (router_us), $RATE req/s × ${DURATION} s × $REPEATS | decisions | p50 µs | p99 µs |"
  echo "|---|---:|---:|---:|"
  echo "| exploration off | $N_OFF | $P50_OFF | $P99_OFF |"
  echo "| exploration on (ε 0.1, band 0.05; $EXPLORED explored) | $N_ON | $P50_ON | $P99_ON |"
} | tee "$OUT"
