#!/usr/bin/env bash
# How late this machine wakes a sleeping thread: 3 s of 200 µs nanosleeps, counting those
# that return more than 1 ms late. On a VM whose idle vCPUs halt, a late wake-up adds to
# every request that crosses threads (loadgen → gateway → upstream and back), so read the
# gateway's p99 (bench/overhead.sh) next to this. Needs gcc.
set -euo pipefail
WORK=$(mktemp -d -t arbiter-jitter.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/jitter.c" <<'C'
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(void) {
  struct timespec req = {0, 200000};
  double start = now(), worst = 0;
  long sleeps = 0, late = 0;
  while (now() - start < 3.0) {
    double t0 = now();
    nanosleep(&req, 0);
    double over = now() - t0 - 200e-6;
    sleeps++;
    if (over > 1e-3) late++;
    if (over > worst) worst = over;
  }
  printf("%ld sleeps of 200 us; %ld woke more than 1 ms late (%.3f%%); worst %.2f ms late\n",
         sleeps, late, 100.0 * late / sleeps, worst * 1e3);
  return 0;
}
C
gcc -O2 -o "$WORK/jitter" "$WORK/jitter.c"
"$WORK/jitter"
