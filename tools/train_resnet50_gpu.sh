#!/usr/bin/env bash
# ResNet50-from-scratch recipes trained side by side on one CUDA GPU, each exported as an fp16 bundle and
# evaluated on test_public. The GPU counterpart of `make train-resnet50` (docs/experiments.md lists results).
#
#   tools/train_resnet50_gpu.sh DATA_ROOT [MINUTES]
#
# DATA_ROOT is a Kermany root (train/, val/, test_public/); MINUTES is each run's wall-clock budget
# (trainer --max-minutes; epochs are sized to end well inside it). Runs go to runs/gpu-*, bundles to
# runs/bundles/, evaluations to runs/eval/ (all git-ignored). Needs torch with CUDA, scikit-learn,
# matplotlib, tqdm; pytorch-grad-cam for evaluate's Grad-CAM panel. A dry run on CPU:
#   DEVICE=cpu EXTRA="--limit 60 --epochs 1 --image-size 32" tools/train_resnet50_gpu.sh ../shared/data/kermany224
set -uo pipefail
DATA=${1:?usage: tools/train_resnet50_gpu.sh DATA_ROOT [MINUTES]}
MINUTES=${2:-5}
PY=${PYTHON:-python3}
COMMON=(--arch resnet50 --init scratch --data "$DATA" --device "${DEVICE:-cuda}" --batch-size 32 --lr 1e-3
        --weight-decay 0.01 --patience 0 --max-minutes "$MINUTES" --threads 3 --no-progress)
SHIP=(--aspect-jitter 1.3 --scale-range 0.85 1.3)   # the geometry of the shipped 64 px CPU bundle
STRONG=(--aspect-jitter 1.5 --scale-range 0.8 1.5)  # the geometry of the shipped MobileNetV2 bundle

declare -A RECIPES=(
  [gpu-resnet50-224-aspectzoom]="--image-size 224 --epochs 24 ${SHIP[*]}"
  [gpu-resnet50-224-aspectzoom-strong]="--image-size 224 --epochs 24 ${STRONG[*]}"
  [gpu-resnet50-128-aspectzoom-strong]="--image-size 128 --epochs 30 ${STRONG[*]}"
)
mkdir -p runs/bundles runs/eval
# ONLY (a regex) picks recipes; SEEDS (e.g. "1 2") repeats them on other patient splits, named -seedN
runs=()
for name in "${!RECIPES[@]}"; do
  [[ -n ${ONLY:-} && ! $name =~ $ONLY ]] && continue
  for seed in ${SEEDS:-0}; do
    run=$name; [[ $seed != 0 ]] && run=$name-seed$seed
    runs+=("$run")
    # shellcheck disable=SC2086  # the recipe is a word list on purpose
    $PY -m trainer train "${COMMON[@]}" ${RECIPES[$name]} --seed "$seed" ${EXTRA:-} --out "runs/$run" \
        >"runs/$run.log" 2>&1 &
  done
done
wait
finish() {  # export and evaluate one run; one failure does not stop the others
  tail -n 2 "runs/$1.log"
  $PY -m trainer export --run "runs/$1" --name "$1" --half --models-dir runs/bundles &&
  OMP_NUM_THREADS=4 $PY -m trainer evaluate --bundle "runs/bundles/$1" --data "$DATA/test_public" \
      --out "runs/eval/$1" --record-as test_public || { echo "FAILED: $1 (see runs/$1.log)"; return 1; }
}
for run in "${runs[@]}"; do finish "$run" >"runs/$run.finish.log" 2>&1 & done
wait
for run in "${runs[@]}"; do cat "runs/$run.finish.log"; done
for run in "${runs[@]}"; do ! grep -q FAILED "runs/$run.finish.log" || exit 1; done
