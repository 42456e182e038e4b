#!/usr/bin/env bash
# Rebuilds models/countdown-slips, the testbed warm start of spec/testbed.md, in two supervised
# stages from the embedded policy models/countdown-tiny (scripts/build-default-policy.sh):
#   1. 1,500 more steps on clean countdown solutions at a lower rate: the embedded policy is
#      under-trained (training loss 0.139 -> 0.094; sampled accuracy, Acc@8 at T = 1, 22.8 % ->
#      30.5 % on 128 held-out problems, greedy unchanged at 32.8 %). RL's signal against a slip
#      is the success rate of the responses that do not slip, so this stage sets how fast RL
#      can learn (spec/testbed.md, "Why the clean skill matters").
#   2. 200 steps on traces of which half misread one prompt number by one in one step and carry
#      it into a wrong answer (task option slipRate 0.5, runtime/engine/tasks/countdown-slips.ts).
# Same problems (3 numbers in 1..9, targets 1..30), tokenizer and architecture throughout.
# About 30 minutes on a loaded 2-core CPU; the committed folder is the output of exactly
# these commands.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
task=(--task countdown --option numbers=3..3 --option values=1..9 --option target=1..30)
npx acpo sft "${task[@]}" \
  --model models/countdown-tiny -o "$tmp/clean" --steps 1500 --batch 32 --lr 1e-3 --warmup 10 --seed 5 --eval-problems 128
npx acpo sft "${task[@]}" --option slipRate=0.5 \
  --model "$tmp/clean" -o models/countdown-slips --steps 200 --batch 32 --lr 1e-3 --warmup 10 --seed 1 --eval-problems 128
rm -rf "$tmp"
