#!/usr/bin/env bash
# The README's results table (issue 13): warm start, GRPO, DAPO, Dr. GRPO, ACPO and three
# ACPO ablations on the testbed (models/countdown-slips, 120 steps of 16 x 8 responses: the examples'
# budget when the table was measured, pinned by the files here; the examples now train 200),
# 5 seeds each, paired 95 % intervals against GRPO, evaluated on the 200-problem test split.
# The warm-start row is the step-0 evaluation of the same runs. About 75 minutes on a 2-core CPU;
# RESUME=1 continues a stopped invocation in the same directory (acpo compare --resume).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/results}
npx acpo compare experiments/results/grpo.acpo experiments/results/dapo.acpo experiments/results/dr_grpo.acpo \
  experiments/results/acpo.acpo experiments/results/acpo_alpha0.acpo experiments/results/acpo_newline.acpo \
  experiments/results/acpo_no_kl.acpo --seeds "${SEEDS:-5}" --out "$out" --quiet ${RESUME:+--resume}
