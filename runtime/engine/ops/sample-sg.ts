// Subgroup schedule of the token sampler (sample.ts) for CPU rasterisers: one 8-lane
// subgroup per row instead of one 64-lane workgroup, with bit-identical results.
//
// Why: on lavapipe a 64-lane workgroup runs as eight 8-lane SIMD chunks on one thread, and
// every workgroupBarrier splits the shader so that each chunk runs up to it in turn; the
// 64-lane kernel has ~8 barriers per reduction (6 reductions without top-k/top-p, 2 more
// per bisection step) and every workgroup-memory access with a lane-dependent address is a
// per-lane scalar loop (spec/speed.md, "What llvmpipe generates"). At 108 logits per row
// that overhead, not arithmetic, is the cost. Here a workgroup is one SIMD chunk: no
// barriers, no workgroup memory.
//
// How the results stay the same bits: real lane l carries the 64-lane kernel's "virtual
// lanes" i = l + 8j in slots j = 0..7 (scalars x0..x7), and each virtual lane does exactly
// what lane i did there, in the same order: the strided loops over v = i, i + 64, ...; the
// contiguous vocabulary chunk [i * chunk, (i + 1) * chunk) of the inverse CDF. The
// reduction tree keeps its pairings (f32 addition is commutative but not associative):
// levels s = 32, 16, 8 pair slots j and j + s / 8 inside a lane (vec4 halves), levels
// s = 4, 2, 1 pair lanes through subgroupBroadcast of constant lanes (a register shuffle on
// llvmpipe). The serial scan of the 64 chunk masses walks the virtual lanes in order
// through 64 broadcasts. Min and max of ids are exact in any order (subgroupMin/Max).
// Needs subgroups of at least 8 lanes with the workgroup's 8 invocations in one subgroup.
import type { Kernel } from "../kernel.js";
import { SAMPLE_BINDINGS, SAMPLE_UNIFORMS, WG, WGSL_RNG, wgslThreshold } from "./sample-common.js";
import { WGSL_ROW_INDEX } from "./wgsl-reduce.js";

/** Real lanes per row (one subgroup), and virtual lanes each carries. */
const LANES = 8;
const SLOTS = WG / LANES;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** WGSL: `stmt(j)` for every slot j, in slot order. */
const eachSlot = (stmt: (j: number) => string): string => range(SLOTS).map(stmt).join("\n    ");

/** WGSL: one variable per slot, name0..name7. */
const slotVars = (name: string, init: string): string => range(SLOTS).map((j) => `var ${name}${j} = ${init};`).join(" ");

/** WGSL: the slots of `name` as two vec4s, slots 0-3 and 4-7 (the tree's first level pairs j with j + 4). */
const slotPair = (name: string): string =>
  `vec4<f32>(${name}0, ${name}1, ${name}2, ${name}3), vec4<f32>(${name}4, ${name}5, ${name}6, ${name}7)`;

/**
 * WGSL: `body(j)` for every element v of virtual lane l + 8j's strided loop (v = i, i + 64, ...,
 * each lane's elements in increasing order, as the 64-lane kernel's lane i visits them).
 */
const stridedLoop = (body: (j: number) => string): string => `
  for (var v0 = 0u; v0 < u.V; v0 += ${WG}u) {
    ${eachSlot((j) => `{
      let v = v0 + l + ${LANES * j}u;
      if (v < u.V) {
        ${body(j)}
      }
    }`)}
  }`;

/** WGSL fn `name(lo, hi)`: the 64-lane tree reduction with `op` over the slot pair, in every lane. */
const treeFn = (name: string, op: (a: string, b: string) => string): string => `
fn ${name}(lo: vec4<f32>, hi: vec4<f32>) -> f32 {
  let a = ${op("lo", "hi")}; // s = 32: slot j with j + 4
  let b = ${op("a.xy", "a.zw")}; // s = 16
  let r = ${op("b.x", "b.y")}; // s = 8
  ${range(LANES).map((k) => `let r${k} = subgroupBroadcast(r, ${k}u);`).join(" ")}
  return ${op(op(op("r0", "r4"), op("r2", "r6")), op(op("r1", "r5"), op("r3", "r7")))}; // s = 4, 2, 1
}`;

const WGSL_HELPERS = /* wgsl */ `
${WGSL_RNG}
${treeFn("tree_sum", (a, b) => `(${a} + ${b})`)}
${treeFn("tree_max", (a, b) => `max(${a}, ${b})`)}

// Number of tokens (as f32) and their mass among p >= t, where p = exp(z - m) / s.
fn kept(base: u32, l: u32, m: f32, inv_s: f32, t: f32) -> vec2<f32> {
  ${slotVars("c", "0.0")}
  ${slotVars("mass", "0.0")}
  ${stridedLoop((j) => `let p = exp(logits[base + v] * u.inv_temp - m) * inv_s;
      if (p >= t) { c${j} += 1.0; mass${j} += p; }`)}
  return vec2<f32>(tree_sum(${slotPair("c")}), tree_sum(${slotPair("mass")}));
}`;

/** WGSL: max, argmax (lowest index on ties), softmax normaliser and entropy of row `base`. */
const WGSL_STATS = /* wgsl */ `
  ${slotVars("m", "bitcast<f32>(0xff7fffffu)")} // -FLT_MAX
  ${slotVars("a", "0xffffffffu")}
  ${stridedLoop((j) => `let z = logits[base + v] * u.inv_temp;
      if (z > m${j}) { m${j} = z; a${j} = v; }`)}
  let mx = tree_max(${slotPair("m")});
  ${eachSlot((j) => `let c${j} = select(f32(0xffffffffu), f32(a${j}), m${j} == mx);`)}
  let argmax = min(u32(subgroupMin(min(min(min(c0, c1), min(c2, c3)), min(min(c4, c5), min(c6, c7))))), u.V - 1u);

  ${slotVars("se", "0.0")}
  ${slotVars("sez", "0.0")}
  ${stridedLoop((j) => `let d = logits[base + v] * u.inv_temp - mx;
      let e = exp(d);
      se${j} += e;
      sez${j} += select(e * d, 0.0, e == 0.0); // p log p -> 0 as p -> 0`)}
  let s = tree_sum(${slotPair("se")});
  let sz = tree_sum(${slotPair("sez")});
  let inv_s = 1.0 / s;
  let lse = mx + log(s);
  let entropy = log(s) - sz * inv_s;`;

/** WGSL: the kept probability of token v (0 below the threshold is the caller's test). */
const P = "exp(logits[base + v] * u.inv_temp - mx) * inv_s";

/**
 * WGSL: the inverse CDF in vocabulary order. Virtual lane i owns chunk [i * chunk, (i + 1) * chunk);
 * its exclusive prefix is the serial sum of the chunk masses before it, as lane 0 forms it in sample.ts.
 */
const WGSL_INVERSE_CDF = /* wgsl */ `
    let chunk = (u.V + ${WG - 1}u) / ${WG}u;
    ${eachSlot((j) => `let beg${j} = min((l + ${LANES * j}u) * chunk, u.V); let end${j} = min(beg${j} + chunk, u.V); var cm${j} = 0.0;`)}
    for (var k = 0u; k < chunk; k++) {
      ${eachSlot((j) => `{ let v = beg${j} + k; if (v < end${j}) { let p = ${P}; if (p >= t_lo) { cm${j} += p; } } }`)}
    }
    var acc = 0.0;
    ${slotVars("pre", "0.0")}
    ${range(WG).map((i) => `pre${Math.floor(i / LANES)} = select(pre${Math.floor(i / LANES)}, acc, l == ${i % LANES}u); acc += subgroupBroadcast(cm${Math.floor(i / LANES)}, ${i % LANES}u);`).join("\n    ")}
    let goal = rng_uniform(u.seed, u.step, row + u.row_offset) * acc;
    // The lowest virtual lane whose walk passes the goal holds the pick: a lane stops at its first.
    var pick = 0xffffffffu;
    var last = 0xffffffffu; // the last kept token walked (all of them when nothing is picked)
    ${eachSlot((j) => `if (pick == 0xffffffffu) {
      var run = pre${j};
      for (var v = beg${j}; v < end${j}; v++) {
        let p = ${P};
        if (p >= t_lo) { run += p; last = v; if (run > goal) { pick = v; break; } }
      }
    }`)}
    let first = subgroupMin(pick);
    // Rounding left goal >= the summed mass: take the last kept token (stored + 1, 0 for none).
    let lastKept = subgroupMax(select(0u, last + 1u, last != 0xffffffffu));
    chosen = select(select(argmax, lastKept - 1u, lastKept > 0u), first, first != 0xffffffffu);`;

/** The sampler as one 8-lane subgroup per row; bindings, uniforms and results as sample.ts's kernel. */
export const sampleSgKernel: Kernel = {
  name: "sample_tokens_sg",
  bindings: SAMPLE_BINDINGS,
  uniforms: SAMPLE_UNIFORMS,
  workgroupSize: [LANES, 1, 1],
  enables: ["subgroups"],
  body: /* wgsl */ `
${WGSL_HELPERS}

fn main(@builtin(subgroup_invocation_id) l: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = ${WGSL_ROW_INDEX};
  if (row >= u.rows) { return; } // uniform per workgroup: the broadcasts below stay uniform
  let base = row * u.logits_stride;
  ${WGSL_STATS}
  var chosen = argmax;
  if (u.greedy == 0u) {
    ${wgslThreshold("l")}
    ${WGSL_INVERSE_CDF}
  }
  if (l == 0u) {
    out_ids[row * u.ids_stride + u.ids_col] = chosen;
    out_logp[row * u.stat_stride + u.stat_col] = logits[base + chosen] * u.inv_temp - lse;
    out_entropy[row * u.stat_stride + u.stat_col] = entropy;
  }
}`,
};
