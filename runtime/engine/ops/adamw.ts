// AdamW, in place on (param, m, v) from grad, with torch.optim.AdamW's semantics.
//
// The rule, as torch's single-tensor path writes it (torch/optim/adam.py `_single_tensor_adam`
// with decoupled_weight_decay=True, which torch.optim.AdamW uses since 2.6; the same lines
// live in torch/optim/adamw.py `_single_tensor_adamw` in 2.0-2.5), for step t = 1, 2, ...:
//   param.mul_(1 - lr * weight_decay)                        # decoupled weight decay
//   exp_avg.lerp_(grad, 1 - beta1)                           # m = m + (1 - beta1) (g - m)
//   exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
//   bias_correction1 = 1 - beta1 ** step
//   bias_correction2 = 1 - beta2 ** step
//   step_size = lr / bias_correction1
//   denom = (exp_avg_sq.sqrt() / sqrt(bias_correction2)).add_(eps)
//   param.addcdiv_(exp_avg, denom, value=-step_size)
// The kernel follows it op for op in fp32, in torch's CPU evaluation order: lerp switches form
// at weight 0.5 as ATen's lerp does, addcmul is (value * g) * g, addcdiv is (value * m) / denom.
// Scalars that torch computes in Python doubles (1 - lr*wd, the bias corrections, step_size)
// are computed here in float64 on the CPU from the step count t and passed as f32 uniforms,
// so no fp32 pow near 1 loses the 1 - beta2^t of early steps.
//
// Optional gradScale (1): the clip coefficient from gradnorm.ts, read on the GPU, multiplies
// the gradient as it is loaded — clipping without rewriting the gradients (g * scale is the
// same fp32 product scaleGrads would have stored).
import type { Gpu } from "../gpu.js";
import type { Kernel } from "../kernel.js";
import { type Tensor, flatView } from "../tensor.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "./grid.js";

const WG = 256;

export interface AdamWOptions {
  /** Step count for bias correction, 1 on the first step (torch's state['step'] after += 1). */
  t: number;
  lr: number;
  beta1?: number; // default 0.9
  beta2?: number; // default 0.999
  eps?: number; // default 1e-8
  weightDecay?: number; // default 0.01 (torch.optim.AdamW's default)
  /** (1) factor applied to grad as it is read, e.g. the clip coefficient. */
  gradScale?: Tensor;
}

/** The f32 uniforms of one step, computed in float64 as torch computes them in Python. */
export function adamwScalars(o: AdamWOptions): Record<string, number> {
  const { t, lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01 } = o;
  if (!Number.isInteger(t) || t < 1) throw new Error(`adamw: step count t must be an integer >= 1, got ${t}`);
  const w1 = 1 - beta1;
  return {
    decay: 1 - lr * weightDecay,
    w1, // lerp weight
    w1_small: Math.abs(w1) < 0.5 ? 1 : 0, // ATen's lerp picks its formula by |weight| < 0.5
    beta2,
    w2: 1 - beta2,
    step_size: lr / (1 - beta1 ** t),
    bc2_sqrt: Math.sqrt(1 - beta2 ** t),
    eps,
  };
}

const cache = new Map<boolean, Kernel>();

function adamwKernel(scaled: boolean): Kernel {
  const hit = cache.get(scaled);
  if (hit) return hit;
  const bindings: Kernel["bindings"] = [
    { name: "param", access: "read_write" },
    { name: "m", access: "read_write" },
    { name: "v", access: "read_write" },
    { name: "grad", access: "read" },
  ];
  if (scaled) bindings.push({ name: "grad_scale", access: "read" });
  const k: Kernel = {
    name: scaled ? "adamw_scaled" : "adamw",
    bindings,
    uniforms: [
      { name: "n", type: "u32" },
      { name: "w1_small", type: "u32" },
      { name: "decay", type: "f32" },
      { name: "w1", type: "f32" },
      { name: "beta2", type: "f32" },
      { name: "w2", type: "f32" },
      { name: "step_size", type: "f32" },
      { name: "bc2_sqrt", type: "f32" },
      { name: "eps", type: "f32" },
    ],
    workgroupSize: [WG, 1, 1],
    body: /* wgsl */ `
fn main(${GRID_PARAMS}) {
  let i = ${FLAT_INDEX(WG)};
  if (i >= u.n) { return; }
  let g = ${scaled ? "grad[i] * grad_scale[0]" : "grad[i]"};
  let p = param[i] * u.decay;
  let m0 = m[i];
  // ATen lerp(self, end, w): |w| < 0.5 ? self + w * (end - self) : end - (end - self) * (1 - w)
  let m1 = select(g - (g - m0) * (1.0 - u.w1), m0 + u.w1 * (g - m0), u.w1_small != 0u);
  let v1 = v[i] * u.beta2 + (u.w2 * g) * g;
  let denom = sqrt(v1) / u.bc2_sqrt + u.eps;
  m[i] = m1;
  v[i] = v1;
  param[i] = p - (u.step_size * m1) / denom;
}`,
  };
  cache.set(scaled, k);
  return k;
}

/** One AdamW step in place. All four buffers have the same number of elements. */
export function adamwStep(
  gpu: Gpu,
  param: Tensor, // (n) updated in place
  m: Tensor, // (n) first moment, zeros before step 1
  v: Tensor, // (n) second moment, zeros before step 1
  grad: Tensor, // (n)
  opts: AdamWOptions,
): void {
  const n = param.size;
  for (const [name, t] of [["m", m], ["v", v], ["grad", grad]] as const) {
    if (t.size !== n) throw new Error(`adamw: ${name} has ${t.size} elements, param has ${n}`);
  }
  const scalars = adamwScalars(opts);
  // A tensor larger than one storage binding is updated a binding-sized range at a time.
  for (const { start, count } of gpu.bindingRanges(n, [4], `adamw '${param.label}'`)) {
    const bufs = [param, m, v, grad].map((t) => flatView(t, start, count));
    if (opts.gradScale) bufs.push(opts.gradScale);
    gpu.dispatch(adamwKernel(!!opts.gradScale), bufs, { n: count, ...scalars }, grid1d(count, WG));
  }
}
