#!/usr/bin/env bash
# Rebuild the bundled demo models from scratch on this CPU, then evaluate them on the committed demo
# set and refresh the README table and plots. Every number in the README comes from this script.
#   scripts/make_demo_models.sh            # corpus + 3 trainings + export + eval
#   STEPS=300 scripts/make_demo_models.sh  # shorter trainings
set -euo pipefail
cd "$(dirname "$0")/.."
LOEV=.venv/bin/loev
STEPS="${STEPS:-}"
extra=()
[ -n "$STEPS" ] && extra+=(--set "train.steps=$STEPS")

# 1. training corpus: role=train shares no piece with the committed demo set (role=demo)
[ -f data/train-corpus/manifest.csv ] || $LOEV corpus --out data/train-corpus --clips 3000 --seed 7 --role train

# 2. three models on the same data, encoder and schedule (resumable: rerun after a crash)
for kind in simclr loev loevpp; do
  run=runs/demo-$kind
  if [ -f "$run/checkpoints/last.safetensors" ]; then
    $LOEV train --resume "$run" "${extra[@]}"
  else
    $LOEV train --config "configs/demo-$kind.yaml" --run-dir "$run" "${extra[@]}"
  fi
  $LOEV export "$run" --out "assets/checkpoints/demo-$kind"
  cp "$run/metrics.csv" "assets/checkpoints/demo-$kind/metrics.csv"
done

# 3. evaluation on the committed demo set (probes fit on its train split, scored on its test split)
$LOEV eval --checkpoint assets/checkpoints/demo-simclr --checkpoint assets/checkpoints/demo-loev \
  --checkpoint assets/checkpoints/demo-loevpp --corpus assets/demo --out assets/eval --readme README.md --threads 1
rm -f assets/eval/report.html  # 5 MB of embedded plotly; regenerate locally when wanted
