// A batch as the interpreter (and replay) sees it: B responses right-padded to T token
// slots, each in a group, with up to S steps. Flat row-major arrays; float64 so the
// interpreter can serve as the oracle for float32 kernels and for finite differences.
// spec/batch.md describes the JSON form. Outside tests every Batch is built from batch rows by rowsBatch
// (batch-rows.ts): batch-file.ts (compiler/plan/) parses a file into rows, the training loop
// turns its trajectories into rows (runtime/loop/rl/step-batch.ts).
export interface Batch {
  B: number; // responses
  T: number; // token slots per response (prompt tokens, response, padding)
  S: number; // step slots per response (>= 1)
  nGroups: number;
  group: Int32Array; // (B) group id in [0, nGroups)
  reward: Float64Array; // (B)
  correct: Float64Array; // (B) 0 or 1
  format: Float64Array; // (B) 1 when the verifier found a complete answer (its format check), else 0
  length: Float64Array; // (B) response tokens
  stepIdx: Int32Array; // (B*T) the token's step, -1 outside the response
  ids: Int32Array; // (B*T) sampled token ids (used with logits)
  oldLogp: Float64Array; // (B*T) rollout policy
  refLogp: Float64Array | null; // (B*T) reference policy, when the stage has one
  /** (B*T) log-probs the sampler recorded, when the stage reads `rollout_logp` (truncated importance sampling). */
  rolloutLogp?: Float64Array | null;
  C: Float64Array; // (B*S) attribution per step
  stepLength: Float64Array; // (B*S) tokens per step; 0 marks an unused step slot
  stepEntropy: Float64Array; // (B*S) mean rollout entropy of the step
  /** (B*S) the task's step checker's reward per step, when the stage reads `step_reward` (process rewards). */
  stepReward?: Float64Array | null;
  /** (B*S) Monte-Carlo values at each step's start and end, when the stage reads `mc_value` / `mc_next` (VinePPO). */
  mcValue?: Float64Array | null;
  mcNext?: Float64Array | null;
  /** (B*S) a judge model's log-probability of its verdict after each step, when the stage reads `judge_score`. */
  judgeScore?: Float64Array | null;
  /**
   * The current policy: logits (B*T, V), or per-token logp and H when logits are absent.
   * With logits the policy is softmax(logits / temperature), the distribution the rollout
   * sampled from (spec/algorithms.md, "Temperature"); given logp and H are used as they are.
   */
  V: number;
  temperature: number;
  logits: Float64Array | null; // (B*T, V)
  logp: Float64Array | null; // (B*T)
  H: Float64Array | null; // (B*T)
  steps: number; // optimizer steps taken in the stage
  totalSteps: number;
  seed: number; // u32 seed of `rand`
}

/**
 * Per-token log p of the sampled token and entropy of softmax(logits / temperature), and
 * the row logsumexp of logits / temperature (float64, stable).
 */
export function policyFromLogits(logits: Float64Array, ids: Int32Array, N: number, V: number, temperature: number): { logp: Float64Array; H: Float64Array; lse: Float64Array } {
  const inv = 1 / temperature;
  const z = (i: number) => logits[i]! * inv;
  const logp = new Float64Array(N);
  const H = new Float64Array(N);
  const lse = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, z(n * V + v));
    let s = 0;
    let t = 0;
    for (let v = 0; v < V; v++) {
      const d = z(n * V + v) - m;
      const e = Math.exp(d);
      s += e;
      if (e > 0) t += e * d;
    }
    const logs = Math.log(s);
    lse[n] = m + logs;
    H[n] = logs - t / s;
    const id = ids[n]!;
    logp[n] = id >= 0 && id < V ? z(n * V + id) - lse[n]! : NaN;
  }
  return { logp, H, lse };
}

