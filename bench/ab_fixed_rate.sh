#!/usr/bin/env bash
# A/B at a fixed request rate, alternating in the same minutes: two load generators (LG_A,
# LG_B) or two gateway builds (SERVE_A, SERVE_B) against one loopback stub upstream. Each
# round runs, for A then B: the load straight to the stub, then through that gateway with
# `model: "auto"`; it prints p50 / p99 / p99.9 (ms, from the scheduled send time) and the
# added p99 (serve − direct). Used to separate a change of the measuring tool from a
# change of the gateway (docs/benchmarks.md).
#
#   LG_A=/tmp/bench_loadgen-old bench/ab_fixed_rate.sh          # old vs current load generator
#   SERVE_A=/tmp/serve-baseline bench/ab_fixed_rate.sh          # baseline vs current gateway
#
# Environment: ROUNDS (3), DUR (s per run, 10), RATE (1000), ROUTER_DIR (models/default),
# AUDIT_DURABILITY (both gateways' `audit.durability`; default queued), DURABILITY_A and
# DURABILITY_B (one side's, overriding it: the same build in two modes), WRK_C (when set: each
# round also runs wrk closed-loop at this concurrency against A then B and prints req/s, the
# saturation throughput, after the fixed-rate table), WRK_ROUNDS (rounds of that, default
# ROUNDS; ROUNDS=0 WRK_ROUNDS=8 runs only the closed loop).
# Expects the release build (`cargo build --release -p serve --bin serve --examples`).
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
EX=target/release/examples
LG_A=${LG_A:-$EX/bench_loadgen}
LG_B=${LG_B:-$EX/bench_loadgen}
SERVE_A=${SERVE_A:-target/release/serve}
SERVE_B=${SERVE_B:-target/release/serve}
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-10}
RATE=${RATE:-1000}
ROUTER=${ROUTER_DIR:-models/default}
STUB=18191

source bench/work_dir.sh

"$EX/bench_stub_upstream" --listen "127.0.0.1:$STUB" --latency-ms 0 --threads 1 > "$WORK/stub.log" 2>&1 &
PIDS+=($!)
start_gateway() { # binary port durability
  "$EX/bench_artifact" config --router-dir "$ROUTER" --upstream "http://127.0.0.1:$STUB/v1" \
    --log-dir "$WORK/decisions-$2" --listen "127.0.0.1:$2" > "$WORK/gateway-$2.toml"
  if [[ -n "$3" ]]; then
    sed -i "/^\[audit\]/a durability = \"$3\"" "$WORK/gateway-$2.toml"
  fi
  "$1" --config "$WORK/gateway-$2.toml" > "$WORK/gateway-$2.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && return
    sleep 0.1
  done
  cat "$WORK/gateway-$2.log" >&2
  echo "gateway on port $2 did not start" >&2
  exit 1
}
DURABILITY_A=${DURABILITY_A:-${AUDIT_DURABILITY:-}}
DURABILITY_B=${DURABILITY_B:-${AUDIT_DURABILITY:-}}
start_gateway "$SERVE_A" 18192 "$DURABILITY_A"
start_gateway "$SERVE_B" 18193 "$DURABILITY_B"

run() { # loadgen url → p50 p99 p999 (tab-separated)
  "$1" --url "$2" --rate "$RATE" --duration "$DUR" --warmup 2 --json | jq -r '[.p50_ms, .p99_ms, .p999_ms] | @tsv'
}
echo "# fixed rate $RATE req/s, $DUR s per run; A: $LG_A + $SERVE_A; B: $LG_B + $SERVE_B; audit durability A: ${DURABILITY_A:-queued}, B: ${DURABILITY_B:-queued}; $(date -u +%Y-%m-%dT%H:%MZ)"
printf 'round\twhich\tdirect p50\tp99\tp99.9\tserve p50\tp99\tp99.9\tadded p99\n'
for r in $(seq "$ROUNDS"); do
  for which in A B; do
    if [[ $which == A ]]; then lg=$LG_A port=18192; else lg=$LG_B port=18193; fi
    d=$(run "$lg" "http://127.0.0.1:$STUB/v1/chat/completions")
    g=$(run "$lg" "http://127.0.0.1:$port/v1/chat/completions")
    printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$which" "$d" "$g" \
      "$(awk -v a="$(cut -f2 <<<"$g")" -v b="$(cut -f2 <<<"$d")" 'BEGIN { printf "%.3f", a - b }')"
  done
done
if [[ -n "${WRK_C:-}" ]]; then
  echo
  echo "# closed loop: wrk -t1 -c$WRK_C -d${DUR}s, model auto; req/s (A, B alternating each round)"
  printf 'round\tA req/s\tB req/s\tB / A\n'
  sat() { # url → req/s
    wrk -t1 -c"$WRK_C" -d"${DUR}s" --timeout 10s -s bench/wrk_post.lua "$1" | tail -n 1 |
      jq -r '.requests / (.duration_us / 1e6) | floor'
  }
  for r in $(seq "${WRK_ROUNDS:-$ROUNDS}"); do
    a=$(sat "http://127.0.0.1:18192/v1/chat/completions")
    b=$(sat "http://127.0.0.1:18193/v1/chat/completions")
    printf '%s\t%s\t%s\t%s\n' "$r" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')"
  done
fi
