// CPU-rasteriser schedules of rowstats.ts, with bit-identical results. Forward: one 8-lane
// subgroup per row instead of one 128-lane workgroup. Backward: one 8-lane workgroup per row
// walking it, instead of one lane per element in 256-lane blocks (the end of this file).
//
// Why: on lavapipe a 128-lane workgroup runs as sixteen 8-lane SIMD chunks on one thread, and
// each of the tree's seven workgroupBarriers splits the shader so that every chunk runs up to
// it in turn, with lane-dependent workgroup-memory accesses as per-lane scalar loops
// (spec/speed.md, "What llvmpipe generates"). At 108 logits per row that overhead, not the
// arithmetic, is the cost. Here a workgroup is one SIMD chunk: no barriers, no workgroup memory.
//
// How the results stay the same bits: real lane l computes the states of the 128-lane
// kernel's "virtual lanes" i = l + 8j, j = 0..15, each by the same pushes in the same order
// (v = i, i + 128, ...), and merges them with the same tree pairings (merge is not
// associative): strides 64, 32, 16, 8 pair slot j with j + 8, 4, 2, 1 inside a lane (in
// registers, each pair merged as soon as both halves exist, so few states are live); strides
// 4, 2, 1 pair lanes through subgroupBroadcast of constant lanes (a register shuffle on
// llvmpipe). Needs subgroups of at least 8 lanes with the workgroup's 8 invocations in one.
import type { Kernel } from "../kernel.js";
import {
  type GradTerms, ROW_HELPERS, ROW_ONLINE, ROW_WG, type StatsOutputs, gradInterface, statsInterface,
} from "./rowstats-common.js";

/** Real lanes per row (one subgroup), and virtual lanes each carries. */
const LANES = 8;
const SLOTS = ROW_WG / LANES;

/**
 * WGSL statements that leave in the returned name the state of virtual lane l + 8j after the
 * tree's level of stride 8k (k = SLOTS: the lane's own fold): merge(slot j, slot j + k) of the
 * level above, as the 128-lane kernel's `red[i] = merge(red[i], red[i + stride])`.
 */
function slotTree(j: number, k: number, out: string[]): string {
  if (k === SLOTS) {
    out.push(`let f${j} = fold(base, l + ${LANES * j}u);`);
    return `f${j}`;
  }
  const a = slotTree(j, 2 * k, out);
  const b = slotTree(j + k, 2 * k, out);
  out.push(`let t${j}_${k} = merge(${a}, ${b}); // stride ${LANES * k}`);
  return `t${j}_${k}`;
}

function body(writes: string): string {
  const tree: string[] = [];
  const top = slotTree(0, 1, tree);
  const lanes = Array.from({ length: LANES }, (_, k) => `let r${k} = subgroupBroadcast(${top}, ${k}u);`).join(" ");
  return /* wgsl */ `
${ROW_HELPERS}
${ROW_ONLINE}
// The state of virtual lane i: its strided share of row \`base\`, pushed in the 128-lane kernel's order.
fn fold(base: u32, i: u32) -> vec4<f32> {
  var st = vec4<f32>(LOWEST, 0.0, 0.0, 0.0);
  for (var v = i; v < u.V; v += ${ROW_WG}u) { st = push(st, logits[base + v]); }
  return st;
}

fn main(@builtin(subgroup_invocation_id) l: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.N) { return; } // uniform per workgroup: the broadcasts below stay uniform
  let base = row * u.V;
  ${tree.join("\n  ")}
  ${lanes}
  let r = merge(merge(merge(r0, r4), merge(r2, r6)), merge(merge(r1, r5), merge(r3, r7))); // strides 4, 2, 1
  if (l == 0u) {
    ${writes}
  }
}`;
}

const cache = new Map<string, Kernel>();

/** The row-stats kernel as one 8-lane subgroup per row; bindings, uniforms and results as rowstats.ts's. */
export function statsSgKernel(o: StatsOutputs): Kernel {
  const key = `${+o.logp}${+o.lse}${+o.entropy}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const { name, bindings, writes } = statsInterface(o);
  const k: Kernel = {
    name: `${name}_sg`,
    bindings,
    uniforms: [{ name: "N", type: "u32" }, { name: "V", type: "u32" }],
    workgroupSize: [LANES, 1, 1],
    enables: ["subgroups"],
    body: body(writes),
  };
  cache.set(key, k);
  return k;
}

// ---- backward ----------------------------------------------------------------------------
// Each element's gradient is computed alone, so any layout gives the same bits. On lavapipe
// the 256-lane blocks cost more than the arithmetic: every lane loads the row's inputs (lse,
// dlogp, id, dH, H) as a gather, and most of a block idles past V = 108. Here each row's
// inputs are loaded once and 8 lanes step through its columns (spec/speed.md, "Where the rest goes").

const gradCache = new Map<string, Kernel>();

/** dlogits of the selected terms, one 8-lane workgroup per row; bindings as rowstats.ts's grad kernel. */
export function gradRowsKernel(o: GradTerms): Kernel {
  const key = `${+o.logp}${+o.entropy}${+o.accumulate}`;
  const hit = gradCache.get(key);
  if (hit) return hit;
  const loads = [`let row_lse = lse[row];`];
  if (o.logp) loads.push("let row_dlogp = dlogp[row];", "let row_id = ids[row];");
  if (o.entropy) loads.push("let row_dH = dH[row];", "let row_H = ent[row];");
  const { name, bindings, store } = gradInterface(o, { dlogp: "row_dlogp", id: "row_id", dH: "row_dH", H: "row_H" });
  const k: Kernel = {
    name: `${name}_rows`,
    bindings,
    uniforms: [{ name: "N", type: "u32" }, { name: "V", type: "u32" }],
    workgroupSize: [LANES, 1, 1],
    body: /* wgsl */ `
fn main(@builtin(local_invocation_index) l: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.N) { return; }
  ${loads.join(" ")}
  for (var v = l; v < u.V; v += ${LANES}u) {
    let i = row * u.V + v;
    let lp = logits[i] - row_lse; // log p_v
    let p = exp(lp);
    ${store}
  }
}`,
  };
  gradCache.set(key, k);
  return k;
}
