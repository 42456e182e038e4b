// The stage's loss head with the LM head streamed in row chunks, so no N x V logits exist
// for a batch (large vocabularies: lm-head.ts), and run on the M response slots only
// (response-rows.ts: prompt and padding slots carry no loss). One minibatch:
//   hidden (N, C) = the policy up to its final norm; its response rows gathered -> (M, C)
//   chunks: logits -> log p, logsumexp, H of softmax(logits / T)  -> pol (N, 2), 0 off the response
//   the stage's kernels on pol (the runner's logits-free mode: statistics, values, the
//     token expressions, aggregation, summary) -> tok (N, K_TOK) with d loss/d logp and d H
//   chunks: logits -> dlogits = (dlogp (onehot - p) + dH (-p (log p + H))) / T -> dhidden, dW_head
//     (dhidden scattered back to (N, C), 0 off the response)
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
import { gatherResponseRows, scatterResponseRows } from "./response-rows.js";

const ONE = { stride: 1, offset: 0 };

/**
 * The policy's final-norm hidden states (B*T, C) of a batch: in its shared-prefix layout when
 * it has one (batch.ts). grad false: no backward follows (Transformer.forwardHidden's).
 */
export function policyHidden(model: Transformer, b: GpuBatch, grad = true): Tensor {
  return b.shared ? model.forwardHiddenShared(b.shared, grad) : model.forwardHidden(b.inputs, b.pos, b.B, b.T, grad);
}

/** log p (B*T) of the batch targets under softmax(logits / temperature) of `model`; 0 off the response. */
export function targetLogpChunked(gpu: Gpu, model: Transformer, b: GpuBatch, temperature: number, label: string, logitsBudget?: number): Tensor {
  const r = b.response, M = Math.max(r.M, 1), C = model.config.hiddenSize;
  const hidden = policyHidden(model, b, false); // log p only: its attention need not save P
  const hR = gpu.empty([M, C], "response hidden"), lp = gpu.empty([M], "response logp"); // (M, C), (M)
  gatherResponseRows(gpu, hR, hidden, r, C);
  const head = new LmHeadStream(gpu, model, r.M, logitsBudget);
  headRowStats(gpu, head, hR, r.targets, { logp: lp, temperature });
  head.release();
  const out = gpu.empty([b.B * b.T], label); // (B*T)
  scatterResponseRows(gpu, out, lp, r, 1);
  gpu.release(hR, lp);
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
  const hidden = policyHidden(model, b);
  const out = lossHeadOnHidden(gpu, model, runner, b, inputs, hidden, logitsBudget);
  model.backwardHidden(model.hiddenGrad());
  return out;
}

/**
 * The middle of lossHeadChunked, between the policy's forward (`hidden`, its final-norm
 * states) and its backward: LM head statistics, the stage's loss kernels, and the LM head's
 * gradient into the weights' gradients and model.hiddenGrad(). The update calls the three
 * parts itself so that a step profile can time each (phase-probe.ts). The head reads the
 * response slots' rows of `hidden` only; model.hiddenGrad() is 0 at every other slot.
 */
export function lossHeadOnHidden(
  gpu: Gpu,
  model: Transformer,
  runner: StageRunner,
  b: GpuBatch,
  inputs: Omit<StageInputs, "logits" | "policy">,
  hidden: Tensor, // (B*T, C)
  logitsBudget?: number,
): StageOutputs {
  const r = b.response, N = b.B * b.T, M = Math.max(r.M, 1), C = model.config.hiddenSize, T = inputs.temperature;
  const hR = gpu.empty([M, C], "response hidden"); // (M, C)
  gatherResponseRows(gpu, hR, hidden, r, C);
  const head = new LmHeadStream(gpu, model, r.M, logitsBudget);
  const logp = gpu.empty([M], "logp"), lse = gpu.empty([M], "lse"), H = gpu.empty([M], "entropy"); // (M) each
  const polR = gpu.empty([M, 2], "response policy"), pol = gpu.empty([N, 2], "policy"); // (M, 2), (N, 2)
  headRowStats(gpu, head, hR, r.targets, { logp, lse, H, temperature: T });
  stridedCopy(gpu, polR, { stride: 2, offset: 0 }, logp, ONE, r.M);
  stridedCopy(gpu, polR, { stride: 2, offset: 1 }, H, ONE, r.M);
  scatterResponseRows(gpu, pol, polR, r, 2);
  const out = runner.run({ ...inputs, policy: pol });
  const tokR = gpu.empty([M, K_TOK], "response tok"), dlogp = gpu.empty([M], "dlogp"), dH = gpu.empty([M], "dH"); // (M, K_TOK), (M), (M)
  gatherResponseRows(gpu, tokR, out.tok, r, K_TOK);
  stridedCopy(gpu, dlogp, ONE, tokR, { stride: K_TOK, offset: TOK_COLUMNS.indexOf("dlogp") }, r.M);
  stridedCopy(gpu, dH, ONE, tokR, { stride: K_TOK, offset: TOK_COLUMNS.indexOf("dH") }, r.M);
  const dhidden = model.hiddenGrad(), dhR = gpu.empty([M, C], "response dhidden"); // (N, C), (M, C)
  headRowGrad(gpu, head, hR, dhR, r.targets, { dlogp, dH, lse, H, temperature: T });
  scatterResponseRows(gpu, dhidden, dhR, r, C);
  head.release();
  gpu.release(hR, logp, lse, H, polR, pol, tokR, dlogp, dH, dhR);
  return out;
}
