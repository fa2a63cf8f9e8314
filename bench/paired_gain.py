#!/usr/bin/env python3
"""Paired comparison of two simulated runs on the same prompts (simulate_traffic --outcomes).

    paired_gain.py NEW.jsonl OLD.jsonl [--cost-per-usd 100] [--resamples 2000] [--seed 42]

Prints one JSON object: for quality (the feedback score), cost (USD per request) and utility
(quality − cost_per_usd · cost, the gateway's `cost` objective with its default willingness to
pay), the mean of NEW − OLD over the prompts both runs judged, with a paired bootstrap 95%
percentile interval (prompts resampled with replacement, both runs' values kept together).
"""

import argparse
import json
import random
import sys


def read(path):
    rows = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
                rows[r["prompt_id"]] = (float(r["score"]), float(r["cost_usd"]))
            except (ValueError, KeyError) as e:
                sys.exit(f"{path}:{n}: not an outcome line ({e})")
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("new")
    ap.add_argument("old")
    ap.add_argument("--cost-per-usd", type=float, default=100.0)
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    new, old = read(a.new), read(a.old)
    shared = sorted(new.keys() & old.keys())
    if not shared:
        sys.exit(f"{a.new} and {a.old} judged no prompt in common")
    diffs = {
        "quality": [new[p][0] - old[p][0] for p in shared],
        "cost_usd": [new[p][1] - old[p][1] for p in shared],
    }
    diffs["utility"] = [
        q - a.cost_per_usd * c for q, c in zip(diffs["quality"], diffs["cost_usd"])
    ]
    rng = random.Random(a.seed)
    n = len(shared)
    draws = [[rng.randrange(n) for _ in range(n)] for _ in range(a.resamples)]
    out = {"prompts": n, "only_new": len(new) - n, "only_old": len(old) - n,
           "cost_per_usd": a.cost_per_usd}
    for name, d in diffs.items():
        means = sorted(sum(d[i] for i in idx) / n for idx in draws)
        lo = means[int(0.025 * (len(means) - 1))]
        hi = means[int(0.975 * (len(means) - 1))]
        out[name] = {"mean": sum(d) / n, "ci": [lo, hi]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
