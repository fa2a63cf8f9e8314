#!/usr/bin/env bash
# Gateway overhead benchmark: the same load straight to a loopback stub upstream and
# through `serve` with `model: "auto"` (score the prompt with the router, decide, forward,
# write the audit record), at a fixed 1,000 requests/s (bench_loadgen, open loop; once on
# the fresh gateway, once after the closed-loop runs, with a per-request breakdown of serve's
# time) and at concurrency 1/16/64/256 (wrk, closed loop). Prints markdown tables and writes
# them to bench/results/overhead-<date>.md. Run by hand from anywhere in the repository:
#
#   bench/overhead.sh                 # ~6 minutes of load after the release build
#   DURATION=5 LEVELS="1 64" REPEATS=1 bench/overhead.sh
#
# Environment: DURATION (s per run, 10), LEVELS ("1 16 64 256"), RATE (1000), REPEATS (3
# alternating direct/relay/serve rounds at RATE, per phase),
# ROUTER_DIR (default: models/default if present, else a synthetic router written by
# `bench_artifact`), STUB_LATENCY_MS (0), STUB_PORT (18181), GATEWAY_PORT (18180),
# BENCH_STREAM=1 (wrk runs ask for streamed answers), WRK_THREADS (1), NO_BUILD=1 (skip cargo build), LOADGEN (path of bench_loadgen; default the
# release build), SERVE_BIN (the gateway binary; default the release build: set it to a
# baseline commit's build to compare two builds on the same machine), SERVER_MODE (the
# gateway's `server.mode`: per_core, the default on Linux, or shared), AUDIT_DURABILITY
# (`audit.durability`: queued, the default, written or synced).
set -euo pipefail

cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
DURATION=${DURATION:-10}
LEVELS=${LEVELS:-"1 16 64 256"}
RATE=${RATE:-1000}
REPEATS=${REPEATS:-3}
STUB_PORT=${STUB_PORT:-18181}
GATEWAY_PORT=${GATEWAY_PORT:-18180}
RELAY_PORT=${RELAY_PORT:-18182}
STUB_LATENCY_MS=${STUB_LATENCY_MS:-0}
WRK_THREADS=${WRK_THREADS:-1}
BIN=target/release
EX=$BIN/examples
LOADGEN=${LOADGEN:-$EX/bench_loadgen}
SERVE_BIN=${SERVE_BIN:-$BIN/serve}

if [[ -z "${NO_BUILD:-}" ]]; then
  echo "== building release binaries" >&2
  cargo build --release -p serve --bin serve --examples >&2
fi
if ! command -v wrk >/dev/null; then
  echo "== installing wrk" >&2
  apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }
fi
command -v jq >/dev/null || { apt-get install -y jq >&2 || { apt-get update >&2 && apt-get install -y jq >&2; }; }
command -v socat >/dev/null || { apt-get install -y socat >&2 || { apt-get update >&2 && apt-get install -y socat >&2; }; }

source bench/work_dir.sh

if [[ -n "${ROUTER_DIR:-}" ]]; then
  ROUTER="$ROUTER_DIR"
elif [[ -f models/default/manifest.json && -f models/default/router.onnx ]]; then
  ROUTER=models/default
else
  ROUTER="$WORK/router"
  "$EX/bench_artifact" router --out "$ROUTER" >&2
fi
ROUTER_NAME=$(jq -r .name "$ROUTER/manifest.json")
"$EX/bench_artifact" config --router-dir "$ROUTER" --upstream "http://127.0.0.1:$STUB_PORT/v1" \
  --log-dir "$WORK/decisions" --listen "127.0.0.1:$GATEWAY_PORT" > "$WORK/gateway.toml"
if [[ -n "${SERVER_MODE:-}" ]]; then
  printf '\n[server]\nmode = "%s"\n' "$SERVER_MODE" >> "$WORK/gateway.toml"
fi
if [[ -n "${AUDIT_DURABILITY:-}" ]]; then
  sed -i "/^\[audit\]/a durability = \"$AUDIT_DURABILITY\"" "$WORK/gateway.toml"
fi

"$EX/bench_stub_upstream" --listen "127.0.0.1:$STUB_PORT" --latency-ms "$STUB_LATENCY_MS" --threads 1 \
  > "$WORK/stub.log" 2>&1 &
PIDS+=($!)
"$SERVE_BIN" --config "$WORK/gateway.toml" > "$WORK/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=($!)
# A null hop for the fixed-rate runs: socat relays the bytes to the stub and does nothing
# else, so "serve − relay" is what the gateway adds beyond one more process on the path.
socat "TCP-LISTEN:$RELAY_PORT,fork,reuseaddr,nodelay" "TCP:127.0.0.1:$STUB_PORT,nodelay" 2>/dev/null &
PIDS+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$GATEWAY_PORT/readyz" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$GATEWAY_PORT/readyz" >/dev/null || { cat "$WORK/gateway.log" >&2; echo "gateway did not start" >&2; exit 1; }

DIRECT="http://127.0.0.1:$STUB_PORT/v1/chat/completions"
GATEWAY="http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions"
RELAY="http://127.0.0.1:$RELAY_PORT/v1/chat/completions"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

run_wrk() { # url concurrency → JSON line
  local t=$WRK_THREADS
  (( t > $2 )) && t=$2
  wrk -t"$t" -c"$2" -d"${DURATION}s" --timeout 10s -s bench/wrk_post.lua "$1" | tail -n 1
}

ms() { awk -v us="$1" 'BEGIN { printf "%.3f", us / 1000 }'; }
rps() { jq -r '(.requests / (.duration_us / 1e6)) | floor' <<<"$1"; }
errs() { jq -r '.errors_connect + .errors_read + .errors_write + .errors_status + .errors_timeout' <<<"$1"; }


# The open-loop runs alternate direct / relay / serve REPEATS times: on a shared 2-vCPU VM one pair
# of 10-s runs can differ by more than a millisecond at p99 for reasons outside both (a
# vCPU woken late), so the verdict is the median over the pairs. They run twice: on the fresh
# gateway (before any closed-loop run) and again after the saturation runs, which leave the
# gateway measurably slower at this rate (docs/benchmarks.md). Each phase starts with the
# wake-up probe (bench/sleep_jitter.sh), so every result file says how noisy the VM was.
FIXED_ROWS=()
SUMMARY=()
f() { jq -r "$2" <<<"$1"; }
fixed_row() { # label json
  printf '| %s | %.0f | %.3f | %.3f | %.3f | %.3f | %.3f / %.3f | %s |\n' "$1" "$(f "$2" .throughput_rps)" "$(f "$2" .p50_ms)" \
    "$(f "$2" .p99_ms)" "$(f "$2" .p999_ms)" "$(f "$2" .max_ms)" "$(f "$2" .service_p50_ms)" "$(f "$2" .service_p99_ms)" \
    "$(f "$2" '.http_errors + .transport_errors')"
}
median_col() { # column number, rows... → median over the rows
  local col=$1
  shift
  printf '%s\n' "$@" | cut -f"$col" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# The gateway's CPU time (user + system, all threads), in clock ticks.
gateway_ticks() { awk '{ print $14 + $15 }' "/proc/$GW_PID/stat"; }
fixed_phase() { # phase name
  local phase=$1 added=() cpu=() r fd fr fg jitter t0
  jitter=$(bash bench/sleep_jitter.sh 2>/dev/null | sed 's/^/wake-up probe: /' || echo "wake-up probe: not run (needs gcc)")
  for r in $(seq "$REPEATS"); do
    echo "== $phase: fixed rate $RATE req/s, round $r/$REPEATS: direct" >&2
    fd=$("$LOADGEN" --url "$DIRECT" --rate "$RATE" --duration "$DURATION" --warmup 2 --json --label direct)
    echo "== $phase: fixed rate $RATE req/s, round $r/$REPEATS: through the socat relay" >&2
    fr=$("$LOADGEN" --url "$RELAY" --rate "$RATE" --duration "$DURATION" --warmup 2 --json --label relay)
    echo "== $phase: fixed rate $RATE req/s, round $r/$REPEATS: through serve" >&2
    t0=$(gateway_ticks)
    fg=$("$LOADGEN" --url "$GATEWAY" --rate "$RATE" --duration "$DURATION" --warmup 2 --json --label serve \
      --trace "$WORK/trace-$phase-$r.csv")
    # µs of gateway CPU per request, over the warm-up and the measured seconds.
    cpu+=("$(awk -v t="$(( $(gateway_ticks) - t0 ))" -v hz="$(getconf CLK_TCK)" -v n="$(awk -v r="$RATE" -v d="$DURATION" 'BEGIN { print r * (d + 2) }')" \
      'BEGIN { printf "%.0f", t / hz * 1e6 / n }')")
    FIXED_ROWS+=("$(fixed_row "$phase: direct ($r)" "$fd")" "$(fixed_row "$phase: socat relay ($r)" "$fr")" "$(fixed_row "$phase: serve ($r)" "$fg")")
    added+=("$(jq -rn --argjson d "$fd" --argjson g "$fg" --argjson x "$fr" \
      '[$g.p50_ms - $d.p50_ms, $g.p99_ms - $d.p99_ms, $g.service_p99_ms - $d.service_p99_ms, $x.p99_ms - $d.p99_ms, $g.p99_ms - $x.p99_ms] | map(. * 1000 | round / 1000) | @tsv')")
  done
  SUMMARY+=("**$phase** — added latency at $RATE req/s, median over the $REPEATS rounds: p50 $(median_col 1 "${added[@]}") ms, \
**p99 $(median_col 2 "${added[@]}") ms** (each round: $(printf '%s\n' "${added[@]}" | cut -f2 | paste -sd' '); target: p99 < 1 ms); \
p99 of the service time (from the actual send) $(median_col 3 "${added[@]}") ms. The null hop (socat) adds p99 $(median_col 4 "${added[@]}") ms \
over direct; serve adds p99 $(median_col 5 "${added[@]}") ms over the relay. Gateway CPU (user + system) per request: \
$(median_col 1 "${cpu[@]}") µs (median; each round: ${cpu[*]}). $jitter.")
  SUMMARY+=("$(breakdown "$phase")")
}
# Where serve's time goes, per request: the load generator's trace (client-side latency, by
# decision id) joined with the decision records (arrival to last byte, router, upstream).
breakdown() { # phase
  command -v python3 >/dev/null || { echo "(breakdown skipped: needs python3)"; return; }
  python3 - "$WORK" "$1" <<'PY'
import csv, glob, json, sys
work, phase = sys.argv[1], sys.argv[2]
traces = []
for path in sorted(glob.glob(f"{work}/trace-{phase}-*.csv")):
    with open(path) as f:
        traces.extend(csv.DictReader(f))
wanted = {t["decision_id"] for t in traces}
# The log also holds the saturation runs' records (gigabytes): parse only the traced ones,
# picked by the id that opens each line (`{"id":"<uuid>",`).
records = {}
for path in glob.glob(f"{work}/decisions/*.jsonl"):
    with open(path) as f:
        for line in f:
            if line[7:43] not in wanted:
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("latency_ms") is not None and r.get("attempts"):
                records[r["id"]] = r
rows = []
for t in traces:
    r = records.get(t["decision_id"])
    if r is None:
        continue
    gw = r["latency_ms"] * 1000
    rows.append({"client service": int(t["service_us"]), "in the gateway": gw,
                 "router (score + policy)": r["router_us"] or 0.0,
                 "upstream call": r["attempts"][-1]["latency_ms"] * 1000,
                 "outside the handler": int(t["service_us"]) - gw})
if not rows:
    print("(breakdown: no trace rows matched a record)")
    sys.exit()
def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * q))]
print(f"Where a request through serve spends its time ({phase}; {len(rows)} requests, µs):\n")
print("| part | p50 | p99 |")
print("|---|---:|---:|")
for k in rows[0]:
    print(f"| {k} | {pct([r[k] for r in rows], 0.5):.0f} | {pct([r[k] for r in rows], 0.99):.0f} |")
PY
}
fixed_phase "fresh gateway"
ROWS=()
for c in $LEVELS; do
  echo "== concurrency $c: direct" >&2
  d=$(run_wrk "$DIRECT" "$c")
  echo "== concurrency $c: through serve (model auto)" >&2
  g=$(run_wrk "$GATEWAY" "$c")
  dr=$(rps "$d"); gr=$(rps "$g")
  row="| $c | $dr | $(ms "$(jq .p50_us <<<"$d")") / $(ms "$(jq .p99_us <<<"$d")") / $(ms "$(jq .p999_us <<<"$d")") | $(errs "$d")"
  row+=" | $gr | $(ms "$(jq .p50_us <<<"$g")") / $(ms "$(jq .p99_us <<<"$g")") / $(ms "$(jq .p999_us <<<"$g")") | $(errs "$g")"
  row+=" | $(ms $(( $(jq .p50_us <<<"$g") - $(jq .p50_us <<<"$d") ))) / $(ms $(( $(jq .p99_us <<<"$g") - $(jq .p99_us <<<"$d") )))"
  row+=" | $(awk -v a="$gr" -v b="$dr" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }') |"
  ROWS+=("$row")
done
fixed_phase "after saturation"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
METRICS=$(curl -sf "http://127.0.0.1:$GATEWAY_PORT/metrics" || true)
DROPPED=$(awk '/^arbiter_audit_records_total\{result="dropped"\}/ { print $2 }' <<<"$METRICS")
ROUTER_MEAN_US=$(awk '/^arbiter_router_duration_seconds_sum/ { s = $2 } /^arbiter_router_duration_seconds_count/ { n = $2 }
  END { if (n > 0) printf "%.1f", s / n * 1e6 }' <<<"$METRICS")
RECORDS=$(cat "$WORK"/decisions/*.jsonl 2>/dev/null | wc -l)

STAMP=$(date -u +%Y-%m-%dT%H%MZ)
OUT=bench/results/overhead-$STAMP.md
mkdir -p bench/results
{
  echo "# Gateway overhead — $STAMP"
  echo
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
  echo "- load average (1/5/15 min) before: $LOAD_BEFORE; after: $LOAD_AFTER (other processes share the cores)"
  echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- serve models || echo ' (+ uncommitted changes)'); router: \`$ROUTER_NAME\` ($ROUTER)"
  echo "- stub upstream latency: ${STUB_LATENCY_MS} ms; wrk runs streamed (BENCH_STREAM): ${BENCH_STREAM:-0}; wrk threads: $WRK_THREADS; ${DURATION} s per run; the stub, the gateway and the load generator share the machine"
  echo "- gateway server mode: ${SERVER_MODE:-default (per_core on Linux)}; audit durability: ${AUDIT_DURABILITY:-default (queued)}"
  echo "- serve binary built $(date -u -r "$SERVE_BIN" +%Y-%m-%dT%H:%MZ); decision records written during the runs: $RECORDS; dropped (queue full): ${DROPPED:-0}; mean router time (scoring + policy, from /metrics): ${ROUTER_MEAN_US:-?} µs"
  echo
  echo "Closed loop (wrk, \`model: \"auto\"\`), latency in ms (p50 / p99 / p99.9); added = serve − direct at the same percentile:"
  echo
  echo "| concurrency | direct req/s | direct p50 / p99 / p99.9 | direct errors | serve req/s | serve p50 / p99 / p99.9 | serve errors | added p50 / p99 | throughput ratio |"
  echo "|---:|---:|---|---:|---:|---|---:|---|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Open loop at a fixed $RATE req/s, $REPEATS alternating rounds (direct, socat relay, serve) on the fresh gateway and again after the closed-loop runs (bench_loadgen; latency in ms from the scheduled send time, so stalls are not hidden; service = from the actual send):"
  echo
  echo "| target (phase, round) | achieved req/s | p50 | p99 | p99.9 | max | service p50 / p99 | errors |"
  echo "|---|---:|---:|---:|---:|---:|---|---:|"
  printf '%s\n' "${FIXED_ROWS[@]}"
  echo
  printf '%s\n\n' "${SUMMARY[@]}"
} | tee "$OUT"
echo "written to $OUT" >&2
