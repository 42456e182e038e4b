// The stage's loss head with the LM head streamed in row chunks, so no N x V logits exist
// for a batch (large vocabularies: lm-head.ts). One minibatch:
//   hidden (N, C) = the policy up to its final norm
//   chunks: logits -> log p, logsumexp, H of softmax(logits / T)  -> pol (N, 2)
//   the stage's kernels on pol (the runner's logits-free mode: statistics, values, the
//     token expressions, aggregation, summary) -> tok (N, K_TOK) with d loss/d logp and d H
//   chunks: logits -> dlogits = (dlogp (onehot - p) + dH (-p (log p + H))) / T -> dhidden, dW_head
//   backward of the rest of the policy from dhidden.
// The fused logits-mode loss head (compiler/codegen/loss-head.ts) computes the same dlogits from
// the same expressions; test/rl/loss-head-chunked.test.ts compares the two.
import { K_TOK, TOK_COLUMNS, type StageInputs, type StageOutputs, type StageRunner } from "../../../compiler/plan/artifact.js";
import type { Gpu } from "../../engine/gpu.js";
import type { Tensor } from "../../engine/tensor.js";
import { headRowGrad, headRowStats, LmHeadStream } from "../../engine/model/lm-head.js";
import type { Transformer } from "../../engine/model/transformer.js";
import { stridedCopy } from "../../engine/ops/strided-copy.js";
import type { GpuBatch } from "./batch.js";

const ONE = { stride: 1, offset: 0 };

/** log p (B*T) of the batch targets under softmax(logits / temperature) of `model`. */
export function targetLogpChunked(gpu: Gpu, model: Transformer, b: GpuBatch, temperature: number, label: string, logitsBudget?: number): Tensor {
  const N = b.B * b.T;
  const hidden = model.forwardHidden(b.inputs, b.pos, b.B, b.T);
  const out = gpu.empty([N], label);
  const head = new LmHeadStream(gpu, model, N, logitsBudget);
  headRowStats(gpu, head, hidden, b.targets, { logp: out, temperature });
  head.release();
  return out;
}

/**
 * Forward, the stage's loss kernels and backward for one minibatch: gradients are added to
 * model.weights.grads; the outputs are the runner's (dlogits null), released by the caller
 * with runner.release.
 */
export function lossHeadChunked(
  gpu: Gpu,
  model: Transformer,
  runner: StageRunner,
  b: GpuBatch,
  inputs: Omit<StageInputs, "logits" | "policy">,
  logitsBudget?: number,
): StageOutputs {
  const hidden = model.forwardHidden(b.inputs, b.pos, b.B, b.T);
  const out = lossHeadOnHidden(gpu, model, runner, b, inputs, hidden, logitsBudget);
  model.backwardHidden(model.hiddenGrad());
  return out;
}

/**
 * The middle of lossHeadChunked, between the policy's forward (`hidden`, its final-norm
 * states) and its backward: LM head statistics, the stage's loss kernels, and the LM head's
 * gradient into the weights' gradients and model.hiddenGrad(). The update calls the three
 * parts itself so that a step profile can time each (phase-probe.ts).
 */
export function lossHeadOnHidden(
  gpu: Gpu,
  model: Transformer,
  runner: StageRunner,
  b: GpuBatch,
  inputs: Omit<StageInputs, "logits" | "policy">,
  hidden: Tensor,
  logitsBudget?: number,
): StageOutputs {
  const N = b.B * b.T, T = inputs.temperature;
  const head = new LmHeadStream(gpu, model, N, logitsBudget);
  const logp = gpu.empty([N], "logp"), lse = gpu.empty([N], "lse"), H = gpu.empty([N], "entropy"), pol = gpu.empty([N, 2], "policy");
  headRowStats(gpu, head, hidden, b.targets, { logp, lse, H, temperature: T });
  stridedCopy(gpu, pol, { stride: 2, offset: 0 }, logp, ONE, N);
  stridedCopy(gpu, pol, { stride: 2, offset: 1 }, H, ONE, N);
  const out = runner.run({ ...inputs, policy: pol });
  const dlogp = gpu.empty([N], "dlogp"), dH = gpu.empty([N], "dH");
  stridedCopy(gpu, dlogp, ONE, out.tok, { stride: K_TOK, offset: TOK_COLUMNS.indexOf("dlogp") }, N);
  stridedCopy(gpu, dH, ONE, out.tok, { stride: K_TOK, offset: TOK_COLUMNS.indexOf("dH") }, N);
  headRowGrad(gpu, head, hidden, model.hiddenGrad(), b.targets, { dlogp, dH, lse, H, temperature: T });
  head.release();
  gpu.release(logp, lse, H, pol, dlogp, dH);
  return out;
}
