// The statistics kernels: one per phase, one workgroup per unit of every reduction in the
// phase (workgroup ids are split between the phase's reductions by their unit counts).
// A workgroup visits the unit's elements, evaluating the reduction's argument inline at
// each, folding into SLOTS partial states, then a fixed tree (common.ts).
//   sum, mean: (sum, count) · std: mean first, then the sum of squared deviations (two
//   passes, as the interpreter) · min, max: (extreme, NaN flag, count) ·
//   quantile: exact selection of the order statistics around q*(n-1) by bisection on the
//   order-preserving u32 keys of the values: 32 counting passes, both neighbours at once.
import type { Kernel } from "../../runtime/engine/kernel.js";
import type { Level } from "../levels.js";
import type { Node } from "../ir/ops.js";
import { asF32, emitCone, indexPrelude, offsetExpr } from "./emit.js";
import { makeKernel, slotTree } from "./common.js";
import { type Slot, stepRead } from "./layout.js";
import { SLOTS } from "./schedule.js";

export function countExpr(l: Level): string {
  switch (l) {
    case "token": return "u.N";
    case "step": return "(u.B * u.S)";
    case "sequence": return "u.B";
    case "group": return "u.NG";
    default: return "1u";
  }
}

function validExpr(l: Level): string {
  if (l === "token") return "tstep[e] >= 0";
  if (l === "step") return `${stepRead("e", "length")} > 0.0`;
  return "true";
}

function groupOfElement(l: Level): string {
  switch (l) {
    case "token": return "group_of(e / u.T)";
    case "step": return "group_of(e / u.S)";
    case "sequence": return "group_of(e)";
    default: return "e";
  }
}

/** [lo, hi) of the elements of level `from` that may lie in `unit` of level `to`, and the membership test. */
function unitRange(from: Level, to: Level): { lo: string; hi: string; member: string } {
  const valid = validExpr(from);
  if (to === "batch") return { lo: "0u", hi: countExpr(from), member: valid };
  if (to === "group") return { lo: "0u", hi: countExpr(from), member: `${valid} && ${groupOfElement(from)} == unit` };
  if (to === "sequence") {
    const per = from === "token" ? "u.T" : "u.S";
    return { lo: `unit * ${per}`, hi: `unit * ${per} + ${per}`, member: valid };
  }
  if (to === "step" && from === "token") return { lo: "(unit / u.S) * u.T", hi: "(unit / u.S) * u.T + u.T", member: "tstep[e] == i32(unit % u.S)" };
  throw new Error(`codegen: no reduction of ${from} over ${to}`);
}

interface ReduceCode {
  fns: string;
  call: string; // statement calling the reduction for `w`
}

function reduction(nodes: readonly Node[], slot: Slot, stats: Map<number, [number, number, number, number]>, off: [number, number, number, number], lanes: number): ReduceCode {
  const n = nodes[slot.node]!;
  if (n.op !== "reduce") throw new Error("codegen: not a reduction");
  const x = nodes[n.args[0]]!;
  const id = n.id;
  const body = emitCone({ nodes, level: x.level, stats, policy: "buffer" }, [x.id]);
  const { lo, hi, member } = unitRange(x.level, n.level);
  const fold = (name: string, init: string, step: string, extraParam = "") => /* wgsl */ `
fn ${name}_${id}(unit: u32, lid: u32${extraParam}) -> vec4<f32> {
  for (var k = lid; k < ${SLOTS}u; k += ${lanes}u) {
    var st = ${init};
    for (var e = ${lo} + k; e < ${hi}; e += ${SLOTS}u) {
      if (${member}) { let x = x_${id}(e); ${step} }
    }
    part[k] = st;
  }
  return tree(lid, ${name === "fmin" ? 1 : name === "fmax" ? 2 : 0}u);
}`;
  const xfn = `
fn x_${id}(e: u32) -> f32 {
  ${[...indexPrelude(x.level), ...body.lines].join("\n  ")}
  return ${asF32(nodes, x.id, body.names.get(x.id)!)};
}`;
  const out = `stats[${offsetExpr(off)} + unit]`;
  let fns = xfn;
  let code: string;
  switch (n.fn) {
    case "sum":
    case "mean":
      fns += fold("fsum", "vec4<f32>(0.0)", "st += vec4<f32>(x, 1.0, 0.0, 0.0);");
      code = `let r = fsum_${id}(unit, lid);\n  let v = ${n.fn === "sum" ? "r.x" : "select(r.x / r.y, nan_f(), r.y == 0.0)"};`;
      break;
    case "std":
      fns += fold("fsum", "vec4<f32>(0.0)", "st += vec4<f32>(x, 1.0, 0.0, 0.0);");
      fns += fold("fsq", "vec4<f32>(0.0)", "let d = x - a.x; st += vec4<f32>(d * d, 1.0, 0.0, 0.0);", ", a: vec4<f32>");
      code = `let r = fsum_${id}(unit, lid);\n  let mu = r.x / r.y;\n  let q = fsq_${id}(unit, lid, vec4<f32>(mu, 0.0, 0.0, 0.0));\n  let v = select(sqrt(q.x / (r.y - ${n.ddof}.0)), nan_f(), r.y == 0.0);`;
      break;
    case "min":
    case "max": {
      const f = n.fn;
      const name = f === "min" ? "fmin" : "fmax";
      fns += fold(name, `vec4<f32>(${f === "min" ? "inf_f()" : "-inf_f()"}, 0.0, 0.0, 0.0)`, `if (is_nan(x)) { st.y = 1.0; } else { st.x = ${f}(st.x, x); } st.z += 1.0;`);
      code = `let r = ${name}_${id}(unit, lid);\n  let v = select(r.x, nan_f(), r.y > 0.0 || r.z == 0.0);`;
      break;
    }
    case "quantile": {
      const qc = emitCone({ nodes, level: "scalar", stats, policy: "buffer" }, [n.args[1]!]);
      fns += fold("fsum", "vec4<f32>(0.0)", "st += vec4<f32>(x, 1.0, 0.0, 0.0);");
      fns += fold("fcnt", "vec4<f32>(0.0)", "let kx = fkey(x); st += vec4<f32>(f32(kx <= bitcast<u32>(a.x)), f32(kx <= bitcast<u32>(a.y)), 0.0, 0.0);", ", a: vec4<f32>");
      code = [
        "let r = fsum_${id}(unit, lid);".replace("${id}", String(id)),
        ...qc.lines,
        `let pos = ${qc.names.get(n.args[1]!)} * (r.y - 1.0);`,
        "let klo = floor(pos);",
        "let khi = min(ceil(pos), r.y - 1.0);",
        "var lo = vec2<u32>(0u, 0u);",
        "var hi = vec2<u32>(0xffffffffu, 0xffffffffu);",
        "for (var it = 0u; it < 32u; it++) {",
        "  let mid = lo + (hi - lo) / 2u;",
        `  let c = fcnt_${id}(unit, lid, vec4<f32>(bitcast<f32>(mid.x), bitcast<f32>(mid.y), 0.0, 0.0));`,
        "  if (c.x >= klo + 1.0) { hi.x = mid.x; } else { lo.x = mid.x + 1u; }",
        "  if (c.y >= khi + 1.0) { hi.y = mid.y; } else { lo.y = mid.y + 1u; }",
        "}",
        "let vlo = fkey_inv(lo.x);",
        "let vhi = fkey_inv(lo.y);",
        "let v = select(select(vlo + (vhi - vlo) * (pos - klo), vlo, khi == klo), nan_f(), r.y == 0.0);",
      ].join("\n  ");
      break;
    }
  }
  fns += `
fn red_${id}(unit: u32, lid: u32) {
  ${code}
  if (lid == 0u) { ${out} = v; }
}`;
  return { fns, call: `red_${id}(w, lid);` };
}

/** The kernel of one phase: reductions whose arguments read only earlier phases' stats. */
export function phaseKernel(name: string, nodes: readonly Node[], phase: Slot[], readable: Map<number, [number, number, number, number]>, offsets: Map<number, [number, number, number, number]>, params: string[], lanes: number): Kernel {
  const parts = phase.map((s) => reduction(nodes, s, readable, offsets.get(s.node)!, lanes));
  const dispatch = phase
    .map((s, i) => `  { let c = ${countExpr(s.level)}; if (w < c) { ${parts[i]!.call} return; } w -= c; }`)
    .join("\n");
  const body = `${slotTree(lanes)}
${parts.map((p) => p.fns).join("\n")}

fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  var w = wid.x + wid.y * nwg.x;
${dispatch}
}`;
  return makeKernel(name, body, ["stats"], params, lanes);
}
