#!/usr/bin/env bash
# Rebuilds models/countdown-slips, the testbed warm start of spec/testbed.md: the embedded
# policy models/countdown-tiny (scripts/build-default-policy.sh) fine-tuned for 200 steps on
# countdown traces of which half misread one prompt number by one in one step and carry it
# into a wrong answer (task option slipRate 0.5, runtime/tasks/countdown-slips.ts). Same
# problems (3 numbers in 1..9, targets 1..30), same tokenizer and architecture. About 6
# minutes on a loaded 2-core CPU; the committed folder is the output of exactly this command.
set -euo pipefail
cd "$(dirname "$0")/.."
npx acpo sft --task countdown --option numbers=3..3 --option values=1..9 --option target=1..30 --option slipRate=0.5 \
  --model models/countdown-tiny -o models/countdown-slips --steps 200 --batch 32 --lr 1e-3 --warmup 10 --seed 1 --eval-problems 64
