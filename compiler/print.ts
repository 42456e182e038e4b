// Print a resolved pipeline back as canonical .acpo text: every default written out,
// `extends` flattened, params at their final values. Checking the output gives the same
// pipeline (tested), so `acpo compile --explain` can show exactly what will run.
import type * as A from "./ast.js";
import type * as P from "./pipeline.js";
import { foldExpr } from "./walk.js";

const PREC: Record<A.BinaryOp, number> = { or: 1, and: 2, "<": 4, "<=": 4, ">": 4, ">=": 4, "==": 4, "!=": 4, "+": 5, "-": 5, "*": 6, "/": 6, "^": 8 };

/** A printed operand and the precedence of its outermost operator (Infinity: an atom). */
interface Printed {
  s: string;
  prec: number;
}

/** `p` as an operand that needs at least precedence `min`: parenthesised when it binds looser. */
function operand(p: Printed, min: number): string {
  return p.prec < min ? `(${p.s})` : p.s;
}

/** An expression in canonical form, parenthesised only where precedence needs it (`outer`: the precedence its place needs). */
export function printExpr(e: A.Expr, outer = 0): string {
  const printed = foldExpr<Printed>(
    e,
    // A negative literal prints with its minus, so it binds like unary minus: (-1) ^ 2.
    (x) => ({ s: printAtom(x), prec: x.kind === "number" && (x.value < 0 || Object.is(x.value, -0)) ? 7 : Infinity }),
    (x, [a, b, c]) => {
      if (x.kind === "unary") return x.op === "not" ? { s: `not ${operand(a!, 3)}`, prec: 3 } : { s: `-${operand(a!, 7)}`, prec: 7 };
      if (x.kind === "binary") {
        const p = PREC[x.op];
        // Left-associative except ^; comparisons do not chain, so both sides bind tighter.
        const lp = x.op === "^" || p === 4 ? p + 1 : p;
        const rp = x.op === "^" ? p : p + 1;
        return { s: `${operand(a!, lp)} ${x.op} ${operand(b!, rp)}`, prec: p };
      }
      // if: any operand position needs parentheses; a condition or branch needs none.
      return { s: `if ${a!.s} then ${b!.s} else ${c!.s}`, prec: 0 };
    },
  );
  return operand(printed, outer === 0 ? 0 : Math.max(outer, 1));
}

/** A literal, name or call (calls print their arguments, which the parser's nesting limit bounds). */
function printAtom(e: A.Expr): string {
  switch (e.kind) {
    case "number":
      return num(e.value);
    case "bool":
      return String(e.value);
    case "string":
      return JSON.stringify(e.value);
    case "name":
      return e.name;
    case "call":
      return `${e.callee}(${e.args.map((a) => printExpr(a.value) + (a.over ? ` over ${a.over.name}` : "")).join(", ")})`;
    default:
      throw new Error(`print: ${e.kind} is not an atom`);
  }
}

function num(v: number): string {
  if (v === Infinity) return "1e309";
  if (Object.is(v, -0)) return "-0";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const s = String(v);
  return s.includes("e") ? s.replace("e+", "e") : s;
}

function range(r: [number, number]): string {
  return `${r[0]}..${r[1]}`;
}

function str(s: string): string {
  return JSON.stringify(s);
}

export function printPipeline(p: P.Pipeline): string {
  const out: string[] = [];
  const line = (s: string, indent = 1) => out.push(`${"  ".repeat(indent)}${s}`);
  out.push(`# resolved from ${p.file}${p.extendsChain.length ? ` (extends ${p.extendsChain.join(" <- ")})` : ""}`);
  out.push(`pipeline ${p.name} {`);
  line(`model ${str(p.model.path)}${p.model.precision ? ` { precision ${p.model.precision} }` : ""}`);
  line(`seed ${p.seed}`);
  const t = p.task;
  const chat = t.prompt?.chat ? `  chat on${t.prompt.system !== null ? `  system ${str(t.prompt.system)}` : ""}` : "";
  if (t.kind === "countdown") line(`task countdown { numbers ${range(t.numbers)}  values ${range(t.values)}  target ${range(t.target)}  train_size ${t.trainSize}  test_size ${t.testSize}  verifier ${t.verifier}${chat} }`);
  else if (t.kind === "arithmetic") line(`task arithmetic { operands ${range(t.operands)}  values ${range(t.values)}  max_value ${t.maxValue}  ops [${t.ops.join(", ")}]  train_size ${t.trainSize}  test_size ${t.testSize}  verifier ${t.verifier}${chat} }`);
  else line(`task ${t.kind} { train ${str(t.train)}${t.test ? `  test ${str(t.test)}` : ""}  verifier ${t.verifier}  prompt_field ${str(t.promptField)}  answer_field ${str(t.answerField)}${chat} }`);
  const r = p.rollout;
  line(`rollout { prompts ${r.prompts}  group ${r.group}  temperature ${num(r.temperature)}  top_p ${num(r.topP)}  top_k ${r.topK}  max_tokens ${r.maxTokens}${r.mcRollouts !== undefined ? `  mc_rollouts ${r.mcRollouts}` : ""} }`);
  const o = p.optimizer;
  const moments = o.kind === "adamw" ? `  beta1 ${num(o.beta1)}  beta2 ${num(o.beta2)}  eps ${num(o.eps)}` : "";
  line(`optimizer ${o.kind} { lr ${num(o.lr)}${moments}  weight_decay ${num(o.weightDecay)}  clip_grad_norm ${num(o.clipGradNorm)}  warmup_steps ${o.warmupSteps}  schedule ${o.schedule}  ppo_epochs ${o.ppoEpochs}  minibatches ${o.minibatches} }`);
  out.push("");
  for (const q of p.params) line(`param ${q.name} = ${num(q.value)}${Number.isFinite(q.min) || Number.isFinite(q.max) ? ` in [${num(q.min)}, ${num(q.max)}]` : ""}`);
  const s = p.segment;
  if (s) {
    if (s.kind === "entropy") {
      const cand = s.candidates.by === "top" ? `top ${num(s.candidates.fraction)}` : `threshold ${num(s.candidates.value)}`;
      line(`segment entropy { ${cand}  markers [${s.markers.map(str).join(", ")}]  min_gap ${s.minGap}  align ${s.align} }`);
    } else if (s.kind === "newline") line(`segment newline { min_gap ${s.minGap} }`);
    else if (s.kind === "fixed") line(`segment fixed { length ${s.length} }`);
    else line("segment none");
  }
  const a = p.attribution;
  if (a) line(`attribution ${a.measure} { judge ${a.judge.kind === "model" ? str(a.judge.path) : a.judge.kind} }`);
  const j = p.judge;
  if (j) line(`judge { model ${str(j.model)}  question ${str(j.question)}  verdict ${str(j.verdict)}${j.against !== undefined ? `  against ${str(j.against)}` : ""} }`);
  for (const l of p.lets) line(`let ${l.name} = ${printExpr(l.expr)}    # ${l.level}`);
  for (const f of p.fns) line(`fn ${f.name}(${f.params.join(", ")}) = ${printExpr(f.body)}`);
  line(`advantage = ${printExpr(p.advantage)}    # ${p.advantage.level}`);
  out.push("");
  for (const st of p.stages) {
    line(`stage ${st.name} until ${printExpr(st.until)} then ${st.next ?? "end"} {`);
    line(`reference ${st.reference.kind === "stage" ? st.reference.name : st.reference.kind}`, 2);
    line(`kl ${st.kl ? printExpr(st.kl) : "0"}`, 2);
    line(`token_weight ${printExpr(st.tokenWeight)}`, 2);
    line(`token_mask ${printExpr(st.tokenMask)}`, 2);
    const sm = st.sampling;
    if (sm.kind === "all") line("sample all", 2);
    else if (sm.kind === "dynamic") line(`sample dynamic { max_rounds ${sm.maxRounds} }`, 2);
    else line(`sample curriculum { priority ${printExpr(sm.priority)}  unseen ${num(sm.unseen)} }`, 2);
    line("}");
  }
  out.push("");
  const L = p.loss;
  line(
    `loss ${L.kind} { ${L.tau ? `tau_pos ${num(L.tau.pos)}  tau_neg ${num(L.tau.neg)}` : `eps_low ${num(L.epsLow)}  eps_high ${num(L.epsHigh)}`}${L.dualClip !== null ? `  dual_clip ${num(L.dualClip)}` : ""}${L.kind === "ppo_clip" ? `  ratio ${L.ratio}` : ""}  entropy_bonus ${num(L.entropyBonus)}${L.tisCap !== null ? `  tis_cap ${num(L.tisCap)}` : ""}  aggregate ${L.aggregate}${L.normConstant !== null ? `  norm_constant ${num(L.normConstant)}` : ""} }`,
  );
  for (const e of p.evals) {
    line(`eval { every ${e.every}  split ${e.split}  problems ${e.problems}  samples ${e.samples}  temperature ${num(e.temperature)}  top_p ${num(e.topP)}  max_tokens ${e.maxTokens}  metrics [${e.metrics.map((m) => `${m.kind}@${m.k}`).join(", ")}] }`);
  }
  out.push("}");
  return out.join("\n") + "\n";
}
