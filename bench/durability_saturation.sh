#!/usr/bin/env bash
# Closed-loop saturation (wrk, concurrency 16) of the gateway in several `audit.durability`,
# `server.threads` and `audit.fsync_interval_ms` settings, one after another against one
# loopback stub: what the strict decision-log modes cost under sustained load
# (docs/benchmarks.md, "Crash consistency").
#
#   bench/durability_saturation.sh
#   VARIANTS="written:1:1000 written:1:3600000" DURATION=8 bench/durability_saturation.sh
#
# VARIANTS: space-separated `durability:threads:fsync_interval_ms` (default: written and queued
# with one and two threads, 1 s fsync). Expects the release build
# (`cargo build --release -p serve --bin serve --examples`) and wrk and jq on the PATH.
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
VARIANTS=${VARIANTS:-"written:1:1000 written:2:1000 queued:2:1000 written:2:3600000"}
DURATION=${DURATION:-8}
EX=target/release/examples
source bench/work_dir.sh
"$EX/bench_stub_upstream" --listen 127.0.0.1:18291 --threads 1 > "$WORK/stub.log" 2>&1 &
PIDS+=($!)
echo "# wrk -c16 -d${DURATION}s, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
for variant in $VARIANTS; do
  IFS=: read -r mode threads fsync <<<"$variant"
  "$EX/bench_artifact" config --router-dir models/default --upstream http://127.0.0.1:18291/v1 \
    --log-dir "$WORK/decisions-$mode-$threads-$fsync-$RANDOM" --listen 127.0.0.1:18292 > "$WORK/gateway.toml"
  sed -i "/^\[audit\]/a durability = \"$mode\"" "$WORK/gateway.toml"
  if grep -q '^fsync_interval_ms' "$WORK/gateway.toml"; then
    sed -i "s/^fsync_interval_ms = .*/fsync_interval_ms = $fsync/" "$WORK/gateway.toml"
  else
    sed -i "/^\[audit\]/a fsync_interval_ms = $fsync" "$WORK/gateway.toml"
  fi
  printf '\n[server]\nthreads = %s\n' "$threads" >> "$WORK/gateway.toml"
  target/release/serve --config "$WORK/gateway.toml" > "$WORK/gateway.log" 2>&1 &
  GW=$!
  PIDS+=($GW)
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18292/readyz >/dev/null && break; sleep 0.1; done
  r=$(wrk -t1 -c16 -d"${DURATION}s" --timeout 10s -s bench/wrk_post.lua http://127.0.0.1:18292/v1/chat/completions | tail -n 1)
  echo "durability $mode, threads $threads, fsync_interval_ms $fsync: $(jq -r '"\(.requests / (.duration_us / 1e6) | floor) req/s, p50 \(.p50_us / 1000) ms, p99 \(.p99_us / 1000) ms"' <<<"$r")"
  kill "$GW"
  wait "$GW" 2>/dev/null || true
done
