#!/usr/bin/env bash
# Rebuild the bundled demo models from scratch on this CPU, then evaluate them on the committed demo
# set and on the real corpus's test tracks and refresh the README tables and plots. Every number in the
# README comes from this script. About 6 h 20 min on a 2-core CPU: 3 h 25 min of generated-corpus stages,
# 55 + 80 + 30 min of real-music stages (REAL, REAL2 and REAL3 below), 10 min of evaluation.
#   scripts/make_demo_models.sh                 # corpora + every training stage + export + both evaluations
#   STEPS="300" scripts/make_demo_models.sh     # one short stage
#   TRAIN_ONLY=1 scripts/make_demo_models.sh    # stop after training (check runs/ on the validation subset
#                                               # first: scripts/probe_baselines.py, loev eval on val-manifest)
# STEPS lists cumulative step counts, one training stage each. A stage resumes each run (Adam state,
# step, RNG) with the cosine schedule stretched to the new total, i.e. a warm restart. The bundled
# models are STEPS="1000 2000 3000": three stages of about 32 min each on a 2-core CPU, then one more
# stage to GRADED_STEPS (default 4000, about 25 min) in which LOEV trains its pitch head with graded
# positives (loss.graded.pitch_shift=GRADED_SCALE, default 2 semitones; docs/experiments.md)
# and weighs that head's loss PITCH_WEIGHT (default 6) against 1 for the others, while SimCLR and
# LOEV++ continue with their own loss: on the validation subset graded positives traded LOEV++'s
# distance ratio and key P@5 for the Spearman target, and the weight lifted LOEV's instrument and key
# accuracy (docs/experiments.md, "Graded pitch positives").
# GRADED_STEPS="" skips that stage. Then LOEV++'s pitch head alone is fine-tuned on graded positives
# (HEAD_STEPS, default 1000, about 9 min; below), then the whole LOEV with four views per clip
# (VIEWS_STEPS, default "800 1600 2400", three stages of about 20 min at two threads; below), and last
# LOEV++'s invariant branch and head with four views per clip (INV_STEPS, default 800, 22 min at one thread).
# The three models train in parallel, one thread each (faster on 2 cores than one after the other).
set -euo pipefail
cd "$(dirname "$0")/.."
LOEV=.venv/bin/loev
STEPS="${STEPS:-1000 2000 3000}"
GRADED_STEPS="${GRADED_STEPS-4000}"
GRADED_SCALE="${GRADED_SCALE:-2}"
PITCH_WEIGHT="${PITCH_WEIGHT:-6}"

# 1. training corpus: role=train shares no piece with the committed demo set (role=demo)
[ -f data/train-corpus/manifest.csv ] || $LOEV corpus --out data/train-corpus --clips 3000 --seed 7 --role train

# 2. three models on the same data, encoder and schedule (resumable: rerun after a crash)
mkdir -p runs
for total in $STEPS; do
  pids=()
  for kind in simclr loev loevpp; do
    run=runs/demo-$kind
    if [ -f "$run/checkpoints/last.safetensors" ]; then
      args=(--resume "$run")
    else
      args=(--config "configs/demo-$kind.yaml" --run-dir "$run")
    fi
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $LOEV train "${args[@]}" --set "train.steps=$total" --no-progress \
      >> "runs/demo-$kind.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
done
if [ -n "$GRADED_STEPS" ]; then
  pids=()
  for kind in simclr loev loevpp; do
    graded=()
    [ "$kind" = loev ] && graded=(--set "loss.graded.pitch_shift=$GRADED_SCALE"
                                  --set "loss.weights.pitch_shift=$PITCH_WEIGHT")
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $LOEV train --resume "runs/demo-$kind" --set "train.steps=$GRADED_STEPS" \
      "${graded[@]}" --no-progress >> "runs/demo-$kind.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
fi
# Then, LOEV++ only: its pitch head alone learns graded positives (loss.graded, HEAD_FORM at scale HEAD_SCALE
# and temperature HEAD_TEMPERATURE) for HEAD_STEPS steps, a head-only fine-tune (train.init, train.trainable)
# from the trained run: the encoder, its branches and the other heads stay bit for bit as they are, so
# V.pitch_shift keeps its key retrieval while Z.pitch_shift's distance grows with the shift.
# HEAD_STEPS="" skips it (docs/experiments.md, "Head-only graded fine-tune").
HEAD_STEPS="${HEAD_STEPS-1000}"
HEAD_SCALE="${HEAD_SCALE:-2}"
HEAD_TEMPERATURE="${HEAD_TEMPERATURE:-0.3}"
HEAD_FORM="${HEAD_FORM:-bce}"
# fine_tune KIND NAME STEPS INIT KEY=VALUE...: a stage that starts from the exported model INIT (train.init)
# with configs/demo-KIND.yaml plus the given settings, in runs/demo-KIND-NAME at two threads, up to STEPS
# in all. Once that run has a checkpoint (a later stage, or a rerun after a crash) it resumes it (warm
# restart to STEPS, as above) with the given settings applied over the run's own config (INIT unused).
fine_tune() {
  local kind=$1 run=runs/demo-$1-$2 steps=$3 init=$4
  shift 4
  local args=(--config "configs/demo-$kind.yaml" --run-dir "$run" --set "train.init=$init")
  [ -f "$run/checkpoints/last.safetensors" ] && args=(--resume "$run")
  for setting in "$@"; do args+=(--set "$setting"); done
  OMP_NUM_THREADS=${THREADS:-2} MKL_NUM_THREADS=${THREADS:-2} $LOEV train "${args[@]}" --set "train.steps=$steps" \
    --no-progress \
    >> "$run.log" 2>&1
}
loevpp_run=runs/demo-loevpp
if [ -n "$HEAD_STEPS" ]; then
  fine_tune loevpp head "$HEAD_STEPS" runs/demo-loevpp/model "train.trainable=[heads.pitch_shift]" \
    "loss.graded.pitch_shift=$HEAD_SCALE" "loss.graded_temperature=$HEAD_TEMPERATURE" "loss.graded_form=$HEAD_FORM"
  loevpp_run=runs/demo-loevpp-head
fi
# LOEV only: the whole network fine-tuned with VIEWS views per clip at batch 24 (96 views per step, 2x the
# cost of a step above), graded pitch positives at scale VIEWS_SCALE (form VIEWS_FORM) and the pitch head
# weighted PITCH_WEIGHT. With two views per clip an anchor whose partner was shifted has no positive, so
# nothing pushes a clip away from its own transposition; with four, an unshifted view has unshifted
# partners and shifted ones in the same softmax (docs/experiments.md, "More views per clip"). VIEWS_STEPS lists
# cumulative step counts, one stage each (about 20 min each at two threads); the last stage also weighs
# the time-stretch head VIEWS_TEMPO_WEIGHT (the longer pitch push had cost tempo on validation).
# VIEWS_STEPS="" skips it.
VIEWS_STEPS="${VIEWS_STEPS-800 1600 2400}"
VIEWS="${VIEWS:-4}"
VIEWS_SCALE="${VIEWS_SCALE:-1}"
VIEWS_FORM="${VIEWS_FORM:-bce}"
VIEWS_TEMPO_WEIGHT="${VIEWS_TEMPO_WEIGHT:-3}"
loev_run=runs/demo-loev
if [ -n "$VIEWS_STEPS" ]; then
  last_views=${VIEWS_STEPS##* }
  for total in $VIEWS_STEPS; do
    tempo=()
    [ "$total" = "$last_views" ] && tempo=("loss.weights.time_stretch=$VIEWS_TEMPO_WEIGHT")
    fine_tune loev views "$total" runs/demo-loev/model "augment.n_views=$VIEWS" train.batch_size=24 \
      "loss.graded.pitch_shift=$VIEWS_SCALE" "loss.graded_form=$VIEWS_FORM" "loss.weights.pitch_shift=$PITCH_WEIGHT" \
      "${tempo[@]}"
  done
  loev_run=runs/demo-loev-views
fi
# LOEV++ only, last: its invariant branch and head alone (train.trainable) fine-tuned from the head stage's
# model with VIEWS views per clip at batch 24 for INV_STEPS steps (22 min measured at one thread beside
# another run). The pitch and time-stretch branches and heads stay bit for bit as they are (key, tempo,
# key P@5 and the pitch head's curve unchanged); the invariant side sees three positives per view instead
# of one, which on validation lifted instrument in V.invariant and tightened Z.invariant
# (docs/experiments.md, "LOEV++: four views for the invariant branch").
# INV_STEPS="" skips it.
INV_STEPS="${INV_STEPS-800}"
if [ -n "$INV_STEPS" ]; then
  fine_tune loevpp inv "$INV_STEPS" "$loevpp_run/model" "train.trainable=[branches.invariant,heads.invariant]" \
    "augment.n_views=$VIEWS" train.batch_size=24
  loevpp_run=runs/demo-loevpp-inv
fi
simclr_run=runs/demo-simclr
# The bundled checkpoints were trained stage by stage while the candidates were compared, so the run names in
# their history (model.json, the Models page) are those experiments' folders (real-*, n-*, sv-*, w-*, w2-*, g-*,
# g4-*, adj-*, adjh-*; docs/experiments.md) rather than this script's runs/demo-*-real*; the settings are these.
# Real music, first round (docs/real-music.md, docs/experiments.md "Real music: fine-tunes"): every model continues on
# the real corpus's training tracks (the validation tracks of scripts/real_validation.py and the unseen package
# left out), mixed half and half with the generated corpus (train.mix_*), whole tracks cropped at random each
# step, at lr 5e-4, one thread each, the three in parallel. SimCLR: the paper's loss, 600 steps then a warm
# restart to 1500 (about 12 + 20 min). LOEV: its last settings (four views, graded pitch head weighted 6, tempo
# head 3), 600 steps then a warm restart to 1200 (about 32 + 22 min). LOEV++: the paper's loss for 1200 steps
# (about 25 min), then its pitch head alone on graded positives (1500 steps at the config's lr, 10 min), then
# its invariant branch and head alone with four views per clip (400 steps, 9 min), as the generated stages did.
# Chosen on validation only. REAL="" skips it.
REAL="${REAL-1}"
if [ -n "$REAL" ]; then
  [ -f data/real-corpus/manifest.csv ] || $LOEV corpus real --out data/real-corpus
  .venv/bin/python scripts/real_validation.py --corpus data/real-corpus
  mix=(train.mix_data=data/real-corpus/manifest-fit.csv train.mix_split=train train.mix_share=0.5
       train.warmup_steps=20 train.checkpoint_every=100)
  loev_views=("augment.n_views=$VIEWS" train.batch_size=24 "loss.graded.pitch_shift=$VIEWS_SCALE"
              "loss.graded_form=$VIEWS_FORM" "loss.weights.pitch_shift=$PITCH_WEIGHT"
              "loss.weights.time_stretch=$VIEWS_TEMPO_WEIGHT")
  (for steps in 600 1500; do THREADS=1 fine_tune simclr real $steps "$simclr_run/model" "${mix[@]}" train.lr=0.0005
   done) &
  (for steps in 600 1200; do THREADS=1 fine_tune loev real $steps "$loev_run/model" "${mix[@]}" train.lr=0.0005 \
     "${loev_views[@]}"; done) &
  (THREADS=1 fine_tune loevpp real 1200 "$loevpp_run/model" "${mix[@]}" train.lr=0.0005
   THREADS=1 fine_tune loevpp realhead 1500 runs/demo-loevpp-real/model "${mix[@]}" \
     "train.trainable=[heads.pitch_shift]" "loss.graded.pitch_shift=$HEAD_SCALE" \
     "loss.graded_temperature=$HEAD_TEMPERATURE" "loss.graded_form=$HEAD_FORM"
   THREADS=1 fine_tune loevpp realinv 400 runs/demo-loevpp-realhead/model "${mix[@]}" train.lr=0.0005 \
     "train.trainable=[branches.invariant,heads.invariant]" "augment.n_views=$VIEWS" train.batch_size=24) &
  wait
  simclr_run=runs/demo-simclr-real loev_run=runs/demo-loev-real loevpp_run=runs/demo-loevpp-realinv
fi
# Real music, second round (docs/experiments.md "Real music: noise last and graded pitch branches"), chosen on
# validation only. The base chain adds its noise last (after filters, reverb and distortion, as a microphone or a
# cheap playback chain does) and more often (p 0.8): with noise first, a low-passed view never has a noise floor
# above its cut-off. SimCLR: 1500 more steps with it, then 600 with four views per clip. LOEV: 1200 more steps of
# its recipe with it and the graded pitch head at temperature 0.15 (its distance spreads further with the shift),
# then with the invariant head weighted 3 (400 steps) and 6 (600
# steps) against 6 for the pitch head and 3 for tempo (its Z.invariant had lagged SimCLR's on same-recording retrieval). LOEV++: its pitch branch and head (not the head alone: a head cannot grade what its branch
# does not) on graded positives at temperature 0.3, scale 2 for 800 steps then 1.5 for 600. About 80 min, one
# thread each, the three in parallel (measured stage by stage beside other runs). REAL2="" skips it.
REAL2="${REAL2-1}"
if [ -n "$REAL" ] && [ -n "$REAL2" ]; then
  noise_last='augment.base={gain: {p: 0.5}, polarity: {p: 0.5}, filter: {p: 0.5}, reverb: {p: 0.5}, delay: {p: 0.5},
    distortion: {p: 0.5}, compression: {p: 0.5}, colored_noise: {p: 0.8}}'
  pitch_branch=("train.trainable=[branches.pitch_shift,heads.pitch_shift]" loss.graded_temperature=0.3
                loss.graded_form=bce train.lr=0.0005)
  (THREADS=1 fine_tune simclr real2 1500 "$simclr_run/model" "${mix[@]}" train.lr=0.0005 "$noise_last"
   THREADS=1 fine_tune simclr real3 600 runs/demo-simclr-real2/model "${mix[@]}" train.lr=0.0005 "$noise_last" \
     "augment.n_views=$VIEWS") &
  (THREADS=1 fine_tune loev real2 1200 "$loev_run/model" "${mix[@]}" train.lr=0.0005 "${loev_views[@]}" \
     loss.graded_temperature=0.15 "$noise_last"
   THREADS=1 fine_tune loev realw 400 runs/demo-loev-real2/model "${mix[@]}" train.lr=0.0005 "${loev_views[@]}" \
     loss.graded_temperature=0.15 "$noise_last" loss.weights.invariant=3
   THREADS=1 fine_tune loev realw2 600 runs/demo-loev-realw/model "${mix[@]}" train.lr=0.0005 "${loev_views[@]}" \
     loss.graded_temperature=0.15 "$noise_last" loss.weights.invariant=6) &
  (THREADS=1 fine_tune loevpp realpitch 800 "$loevpp_run/model" "${mix[@]}" "${pitch_branch[@]}" \
     loss.graded.pitch_shift=2
   THREADS=1 fine_tune loevpp realpitch2 600 runs/demo-loevpp-realpitch/model "${mix[@]}" "${pitch_branch[@]}" \
     loss.graded.pitch_shift=1.5) &
  wait
  simclr_run=runs/demo-simclr-real3 loev_run=runs/demo-loev-realw2 loevpp_run=runs/demo-loevpp-realpitch2
fi
# Real music, third round (docs/experiments.md "Real music: adjacent crops for the invariant side"), chosen on
# validation only: each model's invariant side alone learns from four adjacent 3 s windows of one crop (12 s) as its
# views (augment.crop=adjacent), so two moments of a recording a few seconds apart are positives there, as two
# crops of one track are in the paper's MTG-Jamendo training. SimCLR and LOEV train their invariant head alone (the
# encoder, V and LOEV's variant heads stay bit for bit), LOEV++ its invariant branch and head. SimCLR 600 steps
# (about 9 min), LOEV and LOEV++ 600 then a warm restart to 1200 (about 10 + 9 and 20 + 10 min), one thread each,
# the three in parallel. REAL3="" skips it.
REAL3="${REAL3-1}"
if [ -n "$REAL" ] && [ -n "$REAL2" ] && [ -n "$REAL3" ]; then
  adjacent=(augment.crop=adjacent "augment.n_views=$VIEWS" train.batch_size=24 train.lr=0.0005 "$noise_last")
  (THREADS=1 fine_tune simclr realadj 600 "$simclr_run/model" "${mix[@]}" "${adjacent[@]}" \
     "train.trainable=[heads.invariant]") &
  (for steps in 600 1200; do THREADS=1 fine_tune loev realadj $steps "$loev_run/model" "${mix[@]}" "${loev_views[@]}" \
     loss.graded_temperature=0.15 loss.weights.invariant=6 "${adjacent[@]}" "train.trainable=[heads.invariant]"
   done) &
  (for steps in 600 1200; do THREADS=1 fine_tune loevpp realadj $steps "$loevpp_run/model" "${mix[@]}" \
     "${adjacent[@]}" "train.trainable=[branches.invariant,heads.invariant]"; done) &
  wait
  simclr_run=runs/demo-simclr-realadj loev_run=runs/demo-loev-realadj loevpp_run=runs/demo-loevpp-realadj
fi
[ "${TRAIN_ONLY:-0}" = 1 ] && exit 0
declare -A n_curves=([simclr]=0 [loev]=0 [loevpp]=0)
keep_curve() {  # keep_curve KIND STAGE: the stage's metrics.csv beside the checkpoint, numbered in training order
  local kind=$1 stage=$2
  n_curves[$kind]=$((n_curves[$kind] + 1))
  cp "runs/demo-$kind-$stage/metrics.csv" \
    "assets/checkpoints/demo-$kind/metrics-$(printf %02d "${n_curves[$kind]}")-$stage.csv"
}
for kind in simclr loev loevpp; do
  run=$simclr_run
  [ "$kind" = loevpp ] && run=$loevpp_run
  [ "$kind" = loev ] && run=$loev_run
  $LOEV export "$run" --out "assets/checkpoints/demo-$kind"
  rm -f "assets/checkpoints/demo-$kind"/metrics-*.csv
  cp "runs/demo-$kind/metrics.csv" "assets/checkpoints/demo-$kind/metrics.csv"  # the encoder's training
done
[ -n "$HEAD_STEPS" ] && keep_curve loevpp head
[ -n "$INV_STEPS" ] && keep_curve loevpp inv
[ -n "$VIEWS_STEPS" ] && keep_curve loev views
if [ -n "$REAL" ]; then
  for kind in simclr loev loevpp; do keep_curve "$kind" real; done
  keep_curve loevpp realhead
  keep_curve loevpp realinv
fi
if [ -n "$REAL" ] && [ -n "$REAL2" ]; then
  for stage in simclr-real2 simclr-real3 loev-real2 loev-realw loev-realw2 loevpp-realpitch loevpp-realpitch2; do
    keep_curve "${stage%%-*}" "${stage#*-}"
  done
fi
if [ -n "$REAL" ] && [ -n "$REAL2" ] && [ -n "$REAL3" ]; then
  for kind in simclr loev loevpp; do keep_curve "$kind" realadj; done
fi

# 3. evaluation on the committed demo set (probes fit on its train split, scored on its test split)
$LOEV eval --checkpoint assets/checkpoints/demo-simclr --checkpoint assets/checkpoints/demo-loev \
  --checkpoint assets/checkpoints/demo-loevpp --corpus assets/demo --out assets/eval --readme README.md --threads 1
rm -f assets/eval/report.html  # 5 MB of embedded plotly; regenerate locally when wanted

# 4. evaluation on the real corpus's test tracks (never used in training or model choice; about 4 min), for the
# README's real-music table
if [ -n "$REAL" ]; then
  $LOEV eval --checkpoint assets/checkpoints/demo-simclr --checkpoint assets/checkpoints/demo-loev \
    --checkpoint assets/checkpoints/demo-loevpp --corpus data/real-corpus/manifest.csv --out assets/eval/real \
    --readme README.md --threads 1
  rm -f assets/eval/real/report.html
fi
