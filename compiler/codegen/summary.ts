// The batch summary kernel: one workgroup folds the loss head's per-token columns into the
// fields of interpret/summary.ts (same order): the total loss, the number of tokens in the
// loss, clip fractions, ratio / KL / entropy / advantage / weight statistics. The KL
// figures run over every response token (kl: the raw estimator's mean; kl_loss: the sum of
// the per-token shares of the KL term), the others over the tokens in the loss. Deterministic
// slot folds (common.ts), so the loss read back does not depend on the schedule.
import type { Kernel } from "../../runtime/engine/kernel.js";
import { makeKernel, slotTree } from "./common.js";
import { K_TOK, TOK_COLUMNS } from "./layout.js";
import { SLOTS } from "./schedule.js";

const col = (c: (typeof TOK_COLUMNS)[number]) => `tok[${K_TOK}u * e + ${TOK_COLUMNS.indexOf(c)}u]`;

export function summaryKernel(name: string, lanes: number): Kernel {
  // pass(mode, init, value): fold `value` (a vec4 built from element e) over tokens in the loss.
  const pass = (fn: string, mode: number, init: string, value: string, all = false) => /* wgsl */ `
fn ${fn}(lid: u32, a: vec4<f32>) -> vec4<f32> {
  for (var k = lid; k < ${SLOTS}u; k += ${lanes}u) {
    var st = ${init};
    for (var e = k; e < u.N; e += ${SLOTS}u) {
      let inloss = tstep[e] >= 0 && ${col("mask")} != 0.0;
      if (${all ? "tstep[e] >= 0" : "inloss"}) { st = comb(st, ${value}, ${mode}u); }
    }
    part[k] = st;
  }
  return tree(lid, ${mode}u);
}`;
  const body = `${slotTree(lanes)}
${pass("p_loss", 0, "vec4<f32>(0.0)", `vec4<f32>(${col("contribution")}, select(0.0, 1.0, inloss), select(0.0, ${col("clipLow")}, inloss), select(0.0, ${col("clipHigh")}, inloss))`, true)}
${pass("p_means", 0, "vec4<f32>(0.0)", `vec4<f32>(${col("dual")}, ${col("ratio")}, 0.0, ${col("H")})`)}
${pass("p_kl", 0, "vec4<f32>(0.0)", `vec4<f32>(${col("klLoss")}, ${col("klEstimate")}, 1.0, 0.0)`, true)}
${pass("p_adv", 0, "vec4<f32>(0.0)", `vec4<f32>(${col("advantage")}, ${col("weight")}, ${col("logp")}, 0.0)`)}
${pass("p_ext", 3, "vec4<f32>(inf_f(), -inf_f(), inf_f(), -inf_f())", `vec4<f32>(${col("ratio")}, ${col("ratio")}, ${col("advantage")}, ${col("advantage")})`)}
${pass("p_var", 0, "vec4<f32>(0.0)", `vec4<f32>((${col("advantage")} - a.x) * (${col("advantage")} - a.x), 0.0, 0.0, 0.0)`)}

fn main(@builtin(local_invocation_index) lid: u32) {
  let z = vec4<f32>(0.0);
  let l = p_loss(lid, z);
  let m = p_means(lid, z);
  let a = p_adv(lid, z);
  let x = p_ext(lid, z);
  let k = p_kl(lid, z);
  let n = l.y;
  let none = n == 0.0;
  let adv_mean = select(a.x / n, nan_f(), none);
  let v = p_var(lid, vec4<f32>(adv_mean, 0.0, 0.0, 0.0));
  if (lid == 0u) {
    let q = nan_f();
    summary[0] = l.x;
    summary[1] = n;
    summary[2] = select(l.z / n, q, none);
    summary[3] = select(l.w / n, q, none);
    summary[4] = select(m.x / n, q, none);
    summary[5] = select(m.y / n, q, none);
    summary[6] = select(x.x, q, none);
    summary[7] = select(x.y, q, none);
    summary[8] = select(k.y / k.z, q, k.z == 0.0);
    summary[9] = k.x;
    summary[10] = select(m.w / n, q, none);
    summary[11] = adv_mean;
    summary[12] = select(sqrt(v.x / n), q, none);
    summary[13] = select(x.z, q, none);
    summary[14] = select(x.w, q, none);
    summary[15] = select(a.y / n, q, none);
    summary[16] = select(a.z / n, q, none);
  }
}`;
  return makeKernel(name, body, ["summary"], [], lanes);
}
