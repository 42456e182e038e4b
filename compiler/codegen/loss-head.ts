// The loss head of a stage and the kernels that feed it, each run per logits row or element:
//  - prepass: log p and H of every token (N, 2), for reductions over the current policy
//    (GSPO's sequence ratio, a batch quantile of H, ...). They must be known before any
//    token's loss, so this is a separate pass over the logits;
//  - values: the per-level (group, sequence, step, batch) values the loss head broadcasts
//    to tokens and the user's named values — "the per-step kernel";
//  - loss head: ONE workgroup per logits row reads the row once for its softmax state
//    (max, sum of exp, sum of exp * logit), then in registers: log p of the sampled token,
//    H, every token-level expression of the stage (ratio, KL, advantage, weight, clipped
//    surrogate, aggregation weight, loss contribution, d loss/d logp, d loss/d H), and
//    writes dlogits[v] = dlogp (onehot - p_v) + dH (-p_v (log p_v + H)) in a second sweep
//    over the row (the gradient needs every p_v, which needs the row's total first);
//  - loss head without logits: the same expressions per token from given logp and H.
import type { Kernel } from "../../runtime/engine/kernel.js";
import { ROW_HELPERS, ROW_ONLINE } from "../../runtime/engine/ops/rowstats.js";
import type { Level } from "../levels.js";
import type { StageProgram } from "../ir/stage.js";
import { makeKernel } from "./common.js";
import { asF32, emitCone, indexPrelude, offsetExpr } from "./emit.js";
import { K_TOK, TOK_COLUMNS, type Slot } from "./layout.js";
import { countExpr } from "./reduce.js";
import { SLOTS } from "./schedule.js";

type Offsets = Map<number, [number, number, number, number]>;

/**
 * Softmax state of row `row` of z = logits / T (the policy at the rollout temperature, as
 * the sampler and TRL define it) into lse, row_logp, row_H (all lanes). Uniform control flow.
 */
function rowState(lanes: number): string {
  return /* wgsl */ `
  let base = row * u.V;
  for (var k = lid; k < ${SLOTS}u; k += ${lanes}u) {
    var st = vec4<f32>(LOWEST, 0.0, 0.0, 0.0);
    for (var v = k; v < u.V; v += ${SLOTS}u) { st = push(st, logits[base + v] * u.inv_temp); }
    rpart[k] = st;
  }
  workgroupBarrier();
  for (var s = ${SLOTS / 2}u; s > 0u; s = s >> 1u) {
    for (var k = lid; k < s; k += ${lanes}u) { rpart[k] = merge(rpart[k], rpart[k + s]); }
    workgroupBarrier();
  }
  let rs = rpart[0];
  // s == 0: no finite logit in the row (all -inf, or V == 0); NaN or +inf logits poison it.
  let bad = rs.w > 0.0 || rs.y == 0.0;
  let logs = log(rs.y);
  let lse = rs.x + logs;
  let id = ids[row];
  let row_logp = nan_if(bad || id >= u.V, (logits[base + min(id, u.V - 1u)] * u.inv_temp - rs.x) - logs);
  let row_H = nan_if(bad, logs - rs.z / rs.y);`;
}

const ROW_PRELUDE = (lanes: number) => `${ROW_HELPERS}\n${ROW_ONLINE}\nvar<workgroup> rpart: array<vec4<f32>, ${SLOTS}>;\n`;
const ROW_MAIN = "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32)";

export function prepassKernel(name: string, params: string[], lanes: number): Kernel {
  const body = `${ROW_PRELUDE(lanes)}
${ROW_MAIN} {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.N) { return; } // the whole workgroup leaves together: barriers stay uniform
${rowState(lanes)}
  if (lid == 0u) {
    pol[2u * row] = row_logp;
    pol[2u * row + 1u] = row_H;
  }
}`;
  return makeKernel(name, body, ["pol"], params, lanes);
}

/** Token-level outputs as WGSL lines that set `o_<column>` (f32), given row_logp / row_H in scope. */
function tokenOutputs(prog: StageProgram, stats: Offsets): string[] {
  const roots = TOK_COLUMNS.map((c) => prog.tokens[c]);
  const { lines, names } = emitCone({ nodes: prog.nodes, level: "token", stats, policy: "registers" }, roots);
  const out = [...indexPrelude("token"), ...lines, "let inresp = tstep[e] >= 0;"];
  TOK_COLUMNS.forEach((c, i) => {
    const id = prog.tokens[c];
    out.push(`let o_${c} = select(0.0, ${asF32(prog.nodes, id, names.get(id)!)}, inresp); // column ${i}`);
  });
  return out;
}

function writeTok(): string {
  return TOK_COLUMNS.map((c, i) => `tok[${K_TOK}u * e + ${i}u] = o_${c};`).join("\n    ");
}

export function lossHeadKernel(name: string, prog: StageProgram, stats: Offsets, params: string[], lanes: number): Kernel {
  const body = `${ROW_PRELUDE(lanes)}
var<workgroup> row_in_response: u32;
${ROW_MAIN} {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.N) { return; }
  // Prompt and padding rows have zero outputs and zero gradient: write them without the
  // softmax work (in RL batches most rows are prompt). The flag is loaded uniformly so the
  // barriers below stay in uniform control flow.
  if (lid == 0u) { row_in_response = select(0u, 1u, tstep[row] >= 0); }
  if (workgroupUniformLoad(&row_in_response) == 0u) {
    for (var v = lid; v < u.V; v += ${lanes}u) { dlogits[row * u.V + v] = 0.0; }
    if (lid == 0u) {
      for (var c = 0u; c < ${K_TOK}u; c++) { tok[${K_TOK}u * row + c] = 0.0; }
    }
    return;
  }
${rowState(lanes)}
  let e = row;
  ${tokenOutputs(prog, stats).join("\n  ")}
  if (lid == 0u) {
    ${writeTok()}
  }
  for (var v = lid; v < u.V; v += ${lanes}u) {
    let lp = logits[base + v] * u.inv_temp - lse;
    let p = exp(lp);
    var gr = o_dlogp * (select(0.0, 1.0, v == id) - p);
    // p == 0 (masked or underflowed) contributes 0, not 0 * -inf.
    gr += select(0.0, o_dH * (-p * (lp + row_H)), p > 0.0);
    // z = logits / T: d/dlogits = (1/T) d/dz.
    dlogits[base + v] = select(0.0, gr * u.inv_temp, inresp);
  }
}`;
  return makeKernel(name, body, ["tok", "dlogits"], params, lanes);
}

export function lossHeadPolicyKernel(name: string, prog: StageProgram, stats: Offsets, params: string[], wg: number): Kernel {
  const body = `
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * ${wg}u;
  if (e >= u.N) { return; }
  let row_logp = pol[2u * e];
  let row_H = pol[2u * e + 1u];
  ${tokenOutputs(prog, stats).join("\n  ")}
  {
    ${writeTok()}
  }
}`;
  return makeKernel(name, body, ["tok"], params, wg);
}

/** One thread per element of the largest level; each level's values where the thread is in range. */
export function valuesKernel(name: string, prog: StageProgram, values: Slot[], readable: Offsets, offsets: Offsets, params: string[], wg: number): Kernel {
  const levels: Level[] = ["batch", "group", "sequence", "step"];
  const blocks: string[] = [];
  for (const l of levels) {
    const slots = values.filter((s) => s.level === l);
    if (slots.length === 0) continue;
    const { lines, names } = emitCone({ nodes: prog.nodes, level: l, stats: readable, policy: "buffer" }, slots.map((s) => s.node));
    const writes = slots.map((s) => `stats[${offsetExpr(offsets.get(s.node)!)} + e] = ${asF32(prog.nodes, s.node, names.get(s.node)!)};`);
    blocks.push(`  if (e < ${countExpr(l)}) {\n    ${[...indexPrelude(l), ...lines, ...writes].join("\n    ")}\n  }`);
  }
  const body = `
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * ${wg}u;
${blocks.join("\n")}
}`;
  return makeKernel(name, body, ["stats"], params, wg);
}
