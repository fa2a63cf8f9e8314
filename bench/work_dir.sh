# Sourced by the bench scripts: a temporary work directory ($WORK) and the background
# processes they start ($PIDS: append each one's pid), all removed or stopped on exit.
WORK=$(mktemp -d -t arbiter-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
