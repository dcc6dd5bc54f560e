#!/usr/bin/env bash
# Run every benchmark, keep the JSON in assets/bench/, and refresh the README's benchmark block.
#   scripts/run_benchmarks.sh                 # all (the 1M-vector search build takes ~15 min on 2 cores)
#   scripts/run_benchmarks.sh augment train   # some
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p assets/bench
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(augment train embed search dashboard)
for name in "${names[@]}"; do
  echo "== loev bench $name" >&2
  .venv/bin/loev bench "$name" --json > "assets/bench/$name.json.tmp"
  mv "assets/bench/$name.json.tmp" "assets/bench/$name.json"
done
if [ $# -eq 0 ]; then  # the visitor's view: a fresh copy, empty caches, headless Chromium
  echo "== loev bench dashboard --first-visit" >&2
  .venv/bin/loev bench dashboard --first-visit --json > assets/bench/first_visit.json.tmp
  mv assets/bench/first_visit.json.tmp assets/bench/first_visit.json
  echo "== loev bench dashboard --concurrent" >&2  # five users at once on a 20,000-item index
  .venv/bin/loev bench dashboard --concurrent --json > assets/bench/concurrent.json.tmp
  mv assets/bench/concurrent.json.tmp assets/bench/concurrent.json
fi
.venv/bin/python scripts/bench_table.py README.md
