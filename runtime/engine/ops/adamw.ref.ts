// Plain-TypeScript reference for adamw.ts: torch.optim.AdamW's float32 update emulated op by
// op (every intermediate rounded to fp32 with Math.fround, in ATen's CPU evaluation order).
// The rule and its source are written out in adamw.ts.
import { type AdamWOptions, adamwScalars } from "./adamw.js";
import type { Arr } from "./ref-types.js";

const f = Math.fround;

export function adamwStepRef(
  param: Arr, // (n)
  m: Arr, // (n)
  v: Arr, // (n)
  grad: Arr, // (n)
  opts: Omit<AdamWOptions, "gradScale"> & { gradScale?: number },
): void {
  const { gradScale, ...hyper } = opts;
  const s = adamwScalars(hyper);
  const [decay, w1, beta2, w2, stepSize, bc2Sqrt, eps] = [s.decay!, s.w1!, s.beta2!, s.w2!, s.step_size!, s.bc2_sqrt!, s.eps!].map(f) as number[];
  for (let i = 0; i < param.length; i++) {
    const g = gradScale === undefined ? grad[i]! : f(grad[i]! * f(gradScale));
    const p = f(param[i]! * decay!); // param.mul_(1 - lr * weight_decay)
    const m0 = m[i]!;
    const d = f(g - m0);
    // exp_avg.lerp_(grad, 1 - beta1)
    const m1 = Math.abs(w1!) < 0.5 ? f(m0 + f(w1! * d)) : f(g - f(d * f(1 - w1!)));
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    const v1 = f(f(v[i]! * beta2!) + f(f(w2! * g) * g));
    // denom = exp_avg_sq.sqrt() / bias_correction2_sqrt + eps
    const denom = f(f(f(Math.sqrt(v1)) / bc2Sqrt!) + eps!);
    // param.addcdiv_(exp_avg, denom, value=-step_size)
    param[i] = f(p - f(f(stepSize! * m1) / denom));
    m[i] = m1;
    v[i] = v1;
  }
}
