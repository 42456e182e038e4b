#!/usr/bin/env bash
# Rebuilds models/countdown-tiny, the embedded default policy the examples train from:
# a fresh 'tiny' Llama (0.1 M parameters, character tokenizer, seed 0) warm-started on
# worked countdown solutions (3 numbers in 1..9, targets 1..30). About 10 minutes on a
# 2-core CPU; the committed folder is the output of exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
npx acpo init-model "$tmp/init" --preset tiny --seed 0
npx acpo sft --task countdown --option numbers=3..3 --option values=1..9 --option target=1..30 \
  --model "$tmp/init" -o models/countdown-tiny --steps 1500 --batch 32 --lr 3e-3 --warmup 20 --seed 0 --eval-problems 64
rm -rf "$tmp"
