// The response slots of an update batch. Only they carry a loss (the stage kernels mask every
// slot whose tstep is -1: prompt and padding), yet 70 % of a quickstart batch's slots are
// prompt tokens, each prompt repeated for the G responses of its group. So the LM head runs on
// the response slots alone (loss-head.ts): their hidden rows are gathered into an (M, C)
// buffer, the head's per-row results are scattered back to the (N) slots with 0 elsewhere —
// the values replay uploads there (compiler/codegen/upload.ts packPolicy) — and the hidden
// gradient of every other slot is exactly 0, as the masked loss makes it. Gather and scatter
// are embedding lookups (ops/embedding.ts: out-of-range ids give zero rows), so values move
// bit for bit.
import type { Gpu } from "../../engine/gpu.js";
import { embeddingForward } from "../../engine/ops/embedding.js";
import type { Tensor } from "../../engine/tensor.js";

export interface ResponseRows {
  /** Response slots: those with tstep >= 0. */
  M: number;
  /** All slots, B * T. */
  N: number;
  slots: Tensor; // (max(M, 1)) u32: the slot of each response row, in slot order
  of: Tensor; // (N) u32: each slot's response row, M at prompt and padding slots
  targets: Tensor; // (max(M, 1)) u32: the token each response row scores
  release(): void;
}

/** The response rows of a batch from its CPU tstep (N) and targets (N). */
export function responseRows(gpu: Gpu, tstep: Int32Array, targets: Uint32Array): ResponseRows {
  const N = tstep.length;
  if (targets.length !== N) throw new Error(`responseRows: ${targets.length} targets for ${N} slots`);
  const slots: number[] = [];
  for (let n = 0; n < N; n++) if (tstep[n]! >= 0) slots.push(n);
  const M = slots.length;
  const of = new Uint32Array(N).fill(M);
  slots.forEach((n, m) => (of[n] = m));
  // A tensor holds at least one element: with M = 0 the first slot stands in (nothing reads it).
  const pick = M > 0 ? slots : [0];
  const t = {
    slots: gpu.upload(Uint32Array.from(pick), [pick.length], "response slots"),
    of: gpu.upload(of, [N], "response row of slot"),
    targets: gpu.upload(Uint32Array.from(pick, (n) => targets[n] ?? 0), [pick.length], "response targets"),
  };
  return { M, N, ...t, release: () => gpu.release(t.slots, t.of, t.targets) };
}

/** out (M, C) = the response slots' rows of src (N, C). */
export function gatherResponseRows(gpu: Gpu, out: Tensor, src: Tensor, r: ResponseRows, C: number): void {
  if (r.M > 0) embeddingForward(gpu, out, src, r.slots, { N: r.M, C, V: r.N });
}

/** out (N, C) = row of src (M, C) at each response slot, 0 at every other slot. */
export function scatterResponseRows(gpu: Gpu, out: Tensor, src: Tensor, r: ResponseRows, C: number): void {
  if (r.M === 0) gpu.clear(out);
  else embeddingForward(gpu, out, src, r.of, { N: r.N, C, V: r.M });
}
