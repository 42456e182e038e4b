// Warm start: supervised next-token training on a task's worked solutions. The loss counts
// only the solution tokens (and the final EOS), not the prompt.
import { promptIds } from "../eval/evaluate.js";
import type { Policy } from "../../engine/model/policy.js";
import { lmBatch, lmLossStep, maskedNll } from "../../engine/model/lm-loss.js";
import { AdamWOptimizer } from "../../engine/model/optimizer.js";
import type { Task } from "../../engine/tasks/types.js";
import { type LrSchedule, lrAt } from "../../engine/model/lr-schedule.js";

export interface SftOptions {
  steps: number;
  batchSize: number;
  schedule: LrSchedule;
  weightDecay: number;
  maxGradNorm: number;
  seed: number;
  /** Called every `logEvery` steps with the mean loss since the last call. */
  onLog?: (step: number, loss: number, lr: number) => void;
  logEvery?: number;
}

/** Token sequences [BOS] prompt solution [EOS] and where each solution starts. */
export function sftExamples(policy: Policy, task: Task, count: number, seed: number): { seqs: number[][]; lossFrom: number[] } {
  const eos = policy.tokenizer.eosIds[0];
  const seqs: number[][] = [], lossFrom: number[] = [];
  task.problems("train", count, seed).forEach((p, i) => {
    const prompt = promptIds(policy, p.prompt);
    const solution = policy.tokenizer.encode(task.trace(p, seed + i));
    seqs.push([...prompt, ...solution, ...(eos !== undefined ? [eos] : [])]);
    lossFrom.push(prompt.length - 1); // the input position that predicts the first solution token
  });
  return { seqs, lossFrom };
}

export async function sft(policy: Policy, task: Task, o: SftOptions): Promise<{ finalLoss: number }> {
  const gpu = policy.gpu;
  const opt = new AdamWOptimizer(gpu, policy.weights, { lr: o.schedule.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: o.weightDecay, maxGradNorm: o.maxGradNorm });
  const logEvery = o.logEvery ?? 10;
  let sum = 0, n = 0, last = NaN;
  try {
    for (let step = 1; step <= o.steps; step++) {
      const { seqs, lossFrom } = sftExamples(policy, task, o.batchSize, o.seed * 1_000_003 + step);
      const batch = lmBatch(seqs, lossFrom);
      policy.weights.zeroGrads();
      const { logp, release } = lmLossStep(gpu, policy.model, batch);
      const lr = lrAt(o.schedule, step);
      opt.step(lr);
      // One readback per step: the loss for logging (the update itself needs none).
      const loss = maskedNll(await gpu.read(logp), batch.mask);
      release();
      sum += loss; n++; last = loss;
      if (step % logEvery === 0 || step === o.steps) {
        o.onLog?.(step, sum / n, lr);
        sum = 0; n = 0;
      }
    }
  } finally {
    opt.release();
  }
  return { finalLoss: last };
}
