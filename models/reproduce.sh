#!/usr/bin/env bash
# Reproduce the shipped reference model (v5) from FER2013 and the FER+ votes.
#
#   bash models/reproduce.sh [FER2013_CSV]      (default: $FER2013; FERPLUS_VOTES for the votes file)
#
# One fer-train run in runs/reference-long: 150 epochs of one cosine cycle, from scratch. It took 7.2 hours on
# two x86 CPU cores, so it pauses after each sitting of SITTING_MINUTES (default 140) and the script, run again,
# resumes it from last.keras; a finished run (metadata.json written) is not trained again. Then the int8
# conversion and its evaluation. The commands are the ones in models/MODEL_CARD.md.
set -euo pipefail
data=${1:-${FER2013:-}}
[ -n "$data" ] || { echo "reproduce.sh: error: give the FER2013 CSV as the argument or set FER2013" >&2; exit 1; }
votes=${FERPLUS_VOTES:+--ferplus-votes $FERPLUS_VOTES}
run=runs/reference-long

finished=$run/privatetest_report.json  # the last sitting's evaluation; a paused run has metadata.json too
if [ ! -f $finished ]; then
  resume=()
  if [ -f $run/last.keras ]; then echo "== resuming $run"; resume=(--resume "$run/last.keras"); else echo "== $run"; fi
  # shellcheck disable=SC2086  # $votes is empty or two words
  fer-train --data "$data" --run-dir $run --optimizer sgd --learning-rate 0.01 --weight-decay 5e-4 \
    --soft-labels ferplus:0.2 $votes --drop-not-faces --crop-augment --align-faces --epochs 150 --patience 150 \
    --session-minutes "${SITTING_MINUTES:-140}" "${resume[@]}"
  if [ ! -f $finished ]; then
    echo "reproduce.sh: the run paused after a sitting; run this script again to go on from $run/last.keras"
    exit 0
  fi
fi
fer-convert $run --int8 -o $run-int8.tflite --model-id fer2013_cnn_bilstm_int8_v5 --data "$data"
fer-eval $run-int8.tflite --data "$data" --split PrivateTest --out $run-int8-eval
echo "reproduce.sh: the int8 model is $run-int8.tflite; fer-eval $run-int8.tflite --photos DIR scores it on your photos"
