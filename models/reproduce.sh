#!/usr/bin/env bash
# Reproduce the shipped reference model, stage by stage, from FER2013 (and the FER+ votes for the last stage).
#
#   bash models/reproduce.sh [FER2013_CSV]      (default: $FER2013; FERPLUS_VOTES for the votes file)
#
# Each stage is a fer-train run in runs/reference-<stage>, warm-started from the previous stage's best weights.
# A finished stage (metadata.json written) is skipped, a cut one (last.keras without metadata.json) resumed, so
# the script can be run again after an interruption. The stages are the ones in models/MODEL_CARD.md; on two
# x86 CPU cores they took 47 + 38 + 97 + 67 minutes. v4 is the mean of the weights of stages 3 and 4 (fer-soup);
# then the int8 conversion and its evaluations.
set -euo pipefail
data=${1:-${FER2013:-}}
[ -n "$data" ] || { echo "reproduce.sh: error: give the FER2013 CSV as the argument or set FER2013" >&2; exit 1; }
votes=${FERPLUS_VOTES:+--ferplus-votes $FERPLUS_VOTES}
runs=runs/reference

stage() {  # stage NAME FLAGS...: one fer-train run, skipped when finished, resumed when cut
  local name=$1 dir=$runs-$1; shift
  if [ -f "$dir/metadata.json" ]; then echo "== $name: done ($dir)"; return; fi
  if [ -f "$dir/last.keras" ]; then
    echo "== $name: resuming $dir"
    fer-train --data "$data" --run-dir "$dir" "$@" --resume "$dir/last.keras"
  else
    echo "== $name: $dir"
    fer-train --data "$data" --run-dir "$dir" "$@"
  fi
}

# v1-v3: AdamW, the in-model augmentation, FER2013's one-hot labels
stage 1 --epochs 20
stage 2 --epochs 16 --learning-rate 5e-4 --init-from $runs-1/model.keras
stage 3 --epochs 44 --learning-rate 5e-4 --init-from $runs-2/model.keras --patience 50
# v4: SGD with Nesterov momentum, FER+ votes mixed into the targets, detector-like crop augmentation
# shellcheck disable=SC2086  # $votes is empty or two words
stage 4 --epochs 22 --optimizer sgd --learning-rate 0.005 --weight-decay 5e-4 --soft-labels ferplus:0.4 $votes \
  --drop-not-faces --crop-augment --patience 50 --init-from $runs-3/model.keras

[ -f $runs-v4/metadata.json ] || fer-soup $runs-3 $runs-4 --share 0.5 --align-faces --run-dir $runs-v4 --data "$data"
fer-convert $runs-v4 --int8 -o $runs-int8.tflite --model-id fer2013_cnn_bilstm_int8_v4 --data "$data"
fer-eval $runs-int8.tflite --data "$data" --split PrivateTest --out $runs-int8-eval
echo "reproduce.sh: the int8 model is $runs-int8.tflite; fer-eval $runs-int8.tflite --photos DIR scores it on your photos"
