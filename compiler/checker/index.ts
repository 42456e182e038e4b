// The checker: from a merged AST to a resolved Pipeline, or diagnostics. It checks what
// every item refers to, every expression's granularity and type, every setting's range,
// and the stage graph; it keeps going after an error to report as many as it can.
import type * as A from "../ast.js";
import { FUNCTIONS, QUANTITIES } from "../builtins.js";
import { suggest, type Diagnostics } from "../diagnostics.js";
import { MAX_NESTING, MAX_SEED } from "../limits.js";
import { allNodes } from "../walk.js";
import type * as P from "../pipeline.js";
import { BlockReader } from "./block.js";
import { ExprChecker, type ExprEnv } from "./expr.js";
import { decodeAttribution, decodeEval, decodeLoss, decodeModel, decodeOptimizer, decodeRollout, decodeSegment, decodeTask, pathFrom, type SettingsCtx } from "./settings.js";
import { decodeJudge } from "./judge.js";
import { decodeStage, stageOrder } from "./stages.js";

const TOP_KEYS = ["model", "seed", "task", "rollout", "optimizer", "segment", "attribution", "judge", "loss", "eval"];

/** The pipeline's items by kind: named declarations (built-in names refused), stages, the advantage and the settings. */
interface Items {
  params: Map<string, A.ParamDecl>;
  lets: Map<string, A.LetDecl>;
  fns: Map<string, A.FnDecl>;
  stages: A.StageDecl[];
  settings: A.Setting[];
  advantage: A.AdvantageDecl | undefined;
}

function collectItems(ast: A.PipelineAst, diags: Diagnostics): Items {
  const items: Items = { params: new Map(), lets: new Map(), fns: new Map(), stages: [], settings: [], advantage: undefined };
  for (const it of ast.items) {
    if (it.kind === "param" || it.kind === "let" || it.kind === "fn") {
      if (QUANTITIES[it.name] || FUNCTIONS[it.name]) {
        diags.error("E0202", `\`${it.name}\` is a built-in ${QUANTITIES[it.name] ? "quantity" : "function"}; choose another name`, it.nameSpan);
        continue;
      }
      // Across files, the child's definition wins (merge already replaced same-kind items).
      (it.kind === "param" ? items.params : it.kind === "let" ? items.lets : items.fns).set(it.name, it as never);
    } else if (it.kind === "stage") items.stages.push(it);
    else if (it.kind === "advantage") items.advantage = it;
    else items.settings.push(it);
  }
  return items;
}

/** What the expression checker knows of the pipeline: its declarations and which settings are present. */
function exprEnv(items: Items, top: A.Setting[]): ExprEnv {
  const has = (key: string) => top.some((s) => s.key === key);
  return {
    params: items.params, lets: items.lets, fns: items.fns,
    hasSegment: has("segment"), hasAttribution: has("attribution"), taskKind: taskKindOf(top),
    hasMcRollouts: top.some((s) => s.key === "rollout" && (s.block ?? []).some((b) => b.key === "mc_rollouts")), hasJudge: has("judge"),
  };
}

/** The top-level settings decoded, in the order their diagnostics are reported; required ones missing are reported here. */
function decodeSettings(ast: A.PipelineAst, topReader: BlockReader, ctx: SettingsCtx, evalSettings: A.Setting[]) {
  const { diags } = ctx;
  // A missing `model` gets the reader's message; a present one may carry a block (precision).
  const modelS = topReader.get("model");
  const model = modelS ? decodeModel(ctx, modelS) : (topReader.str("model"), undefined);
  const seed = topReader.num("seed", { default: 0, int: true, min: 0, max: MAX_SEED });
  const need = (key: string, example: string): A.Setting | undefined => {
    const s = topReader.get(key);
    if (!s) diags.error("E0403", `pipeline \`${ast.name}\` needs \`${key}\``, ast.nameSpan, `add e.g. ${example}`);
    return s;
  };
  const taskS = need("task", "task countdown { numbers 3..4 }");
  const rolloutS = need("rollout", "rollout { prompts 16  group 8  temperature 1.0  max_tokens 96 }");
  const optS = need("optimizer", "optimizer adamw { lr 1e-5 }");
  const lossS = need("loss", "loss ppo_clip { eps_low 0.2  eps_high 0.2  aggregate token_mean }");
  const task = taskS && decodeTask(ctx, taskS);
  const rollout = rolloutS && decodeRollout(ctx, rolloutS);
  const optimizer = optS && decodeOptimizer(ctx, optS);
  const loss = lossS && decodeLoss(ctx, lossS);
  const segS = topReader.get("segment");
  const segment = segS ? decodeSegment(ctx, segS) : null;
  const attS = topReader.get("attribution");
  if (attS && !segS) diags.error("E0404", "attribution scores reasoning steps, but the pipeline has no `segment` rule", attS.keySpan, "add e.g. segment entropy { top 0.05 }");
  const attribution = attS ? decodeAttribution(ctx, attS) : null;
  const judgeS = topReader.get("judge");
  if (judgeS && !segS) diags.error("E0404", "the judge scores reasoning steps, but the pipeline has no `segment` rule", judgeS.keySpan, "add e.g. segment newline { min_gap 1 }");
  const judge = judgeS ? decodeJudge(ctx, judgeS) : undefined;
  const evals = evalSettings.map((s) => decodeEval(ctx, s, rollout));
  return { model, seed, task, rollout, optimizer, loss, segment, attribution, judge, evals };
}

function checkAdvantage(ast: A.PipelineAst, advantage: A.AdvantageDecl | undefined, exprs: ExprChecker, diags: Diagnostics): void {
  if (!advantage) diags.error("E0403", `pipeline \`${ast.name}\` needs \`advantage = ...\``, ast.nameSpan, "e.g. advantage = (r - mean(r over group)) / (std(r over group) + 1e-6)");
  else {
    const t = exprs.check(advantage.value, "any");
    if (t && t.type !== "num") diags.error("E0302", "the advantage must be a number, found a condition", advantage.value.span, "e.g. if correct then 1 else -1");
  }
}

/** The stages in run order (the graph checked), and the reference every stage needs when an expression reads ref_logp. */
function checkStages(ast: A.PipelineAst, stages: A.StageDecl[], exprs: ExprChecker, diags: Diagnostics): P.Stage[] {
  if (stages.length === 0) {
    diags.error("E0403", `pipeline \`${ast.name}\` needs at least one stage`, ast.nameSpan, "e.g. stage train until steps >= 200 { kl 0 }");
    return [];
  }
  const order = stageOrder(stages, diags);
  const names = stages.map((s) => s.name);
  const seq = order ?? stages;
  const outStages: P.Stage[] = [];
  seq.forEach((s, i) => {
    const next = order ? (seq[i + 1]?.name ?? null) : null;
    const st = decodeStage(s, seq.slice(0, i).map((x) => x.name), names, diags, exprs, next);
    if (st) outStages.push(st);
  });
  // Quantities used outside stages need a reference in every stage that evaluates them.
  const refUse = exprs.usedBuiltins.get("ref_logp");
  const bare = outStages.find((s) => s.reference.kind === "none");
  if (refUse && bare) diags.error("E0404", `\`ref_logp\` needs a reference policy, but stage \`${bare.name}\` has none`, refUse, "add `reference initial` to that stage");
  return outStages;
}

export function checkPipeline(ast: A.PipelineAst, chain: string[], diags: Diagnostics): P.Pipeline | undefined {
  const before = diags.count;
  const items = collectItems(ast, diags);
  const { params, lets, fns } = items;
  const top = items.settings.filter((s) => s.key !== "eval");
  const env = exprEnv(items, top);
  const exprs = new ExprChecker(env, diags);
  const ctx: SettingsCtx = { diags, exprs };
  const topReader = new BlockReader(`pipeline \`${ast.name}\``, top, TOP_KEYS, ast.nameSpan, diags, exprs);

  const outParams = checkParams(params, exprs, diags);
  for (const f of fns.values()) checkFnNames(f, env, diags);
  for (const name of lets.keys()) exprs.letType(name, lets.get(name)!.nameSpan);
  checkLetDepth(exprs.letOrder, lets, diags);

  const d = decodeSettings(ast, topReader, ctx, items.settings.filter((s) => s.key === "eval"));
  checkAdvantage(ast, items.advantage, exprs, diags);
  const outStages = checkStages(ast, items.stages, exprs, diags);

  if (diags.count > before || !topReader.ok) return undefined;
  return {
    name: ast.name,
    file: chain[0]!,
    extendsChain: chain.slice(1),
    seed: d.seed,
    model: d.model!,
    task: d.task!,
    rollout: d.rollout!,
    optimizer: d.optimizer!,
    params: outParams,
    lets: exprs.letOrder.map((n) => {
      const decl = lets.get(n)!;
      return { name: n, expr: decl.value, level: decl.value.level!, span: decl.span };
    }),
    fns: [...fns.values()].map((f) => ({ name: f.name, params: f.params.map((p) => p.name), body: f.body, span: f.span })),
    segment: d.segment ?? null,
    attribution: d.attribution ?? null,
    ...(d.judge ? { judge: d.judge } : {}),
    advantage: items.advantage!.value,
    stages: outStages,
    loss: d.loss!,
    evals: d.evals as P.Eval[],
  };
}

function checkParams(params: Map<string, A.ParamDecl>, exprs: ExprChecker, diags: Diagnostics): P.Param[] {
  const out: P.Param[] = [];
  for (const p of params.values()) {
    const before = diags.count;
    const t = exprs.check(p.value, "any");
    if (!t) continue;
    const v = exprs.paramValue(p.name);
    // A chain of params too deep leaves every value along it unknown; E0105 says why, once.
    if (diags.count > before || (v === undefined && exprs.tooDeep)) continue;
    if (v === undefined || t.level !== "scalar") {
      diags.error("E0303", `param \`${p.name}\` must be a constant number`, p.value.span, "params are numbers known before training; use `let` for computed quantities");
      continue;
    }
    let min = -Infinity;
    let max = Infinity;
    if (p.range) {
      const lo = exprs.check(p.range.lo, "any") && exprs.constValue(p.range.lo);
      const hi = exprs.check(p.range.hi, "any") && exprs.constValue(p.range.hi);
      if (typeof lo !== "number" || typeof hi !== "number") {
        diags.error("E0303", `the range of \`${p.name}\` must be constant numbers`, typeof lo !== "number" ? p.range.lo.span : p.range.hi.span);
        continue;
      }
      if (lo > hi) {
        diags.error("E0401", `the range of \`${p.name}\` is empty: ${lo} > ${hi}`, p.range.lo.span);
        continue;
      }
      min = lo;
      max = hi;
    }
    const fromSet = p.value.span.file.startsWith("--set[");
    if (v < min || v > max || !Number.isFinite(v)) {
      diags.error("E0401", `\`${p.name}\` = ${v} is outside its range [${min}, ${max}]`, p.value.span, `declared at ${p.span.file}:${p.span.line}: param ${p.name} = ... in [${min}, ${max}]`);
      continue;
    }
    out.push({ name: p.name, value: v, min, max, source: fromSet ? "set" : "file", span: p.span });
  }
  return out;
}

/** A fn's body is type-checked at each call; here only its names, so an unused fn still gets checked for typos. */
function checkFnNames(f: A.FnDecl, env: { params: Map<string, unknown>; lets: Map<string, unknown>; fns: Map<string, unknown> }, diags: Diagnostics): void {
  const own = new Set<string>();
  for (const p of f.params) {
    if (own.has(p.name)) diags.error("E0202", `parameter \`${p.name}\` appears twice in \`${f.name}\``, p.span);
    own.add(p.name);
  }
  const visible = [...own, ...env.lets.keys(), ...env.params.keys(), ...Object.keys(QUANTITIES)];
  for (const e of allNodes(f.body)) {
    if (e.kind === "name" && !own.has(e.name) && !env.lets.has(e.name) && !env.params.has(e.name) && !QUANTITIES[e.name])
      diags.error("E0201", `unknown name \`${e.name}\``, e.span, suggest(e.name, visible) ?? `parameters of ${f.name}: ${[...own].join(", ")}`);
    if (e.kind === "call" && !FUNCTIONS[e.callee] && !env.fns.has(e.callee))
      diags.error("E0204", `unknown function \`${e.callee}\``, e.calleeSpan, suggest(e.callee, [...Object.keys(FUNCTIONS), ...env.fns.keys()]));
  }
}

/**
 * Lowering resolves a let by first lowering the lets it uses, so a let's definition depth
 * (1 + the deepest let it uses, through fn bodies too) is bounded like nesting. `order` is
 * dependency order: every let a let uses comes before it.
 */
function checkLetDepth(order: readonly string[], lets: Map<string, A.LetDecl>, diags: Diagnostics): void {
  const depth = new Map<string, number>();
  for (const name of order) {
    let d = 1;
    for (const e of allNodes(lets.get(name)!.value)) if (e.kind === "name" && e.ref?.kind === "let") d = Math.max(d, 1 + (depth.get(e.ref.name) ?? 0));
    depth.set(name, d);
    if (d === MAX_NESTING + 1) diags.error("E0105", `let \`${name}\` is defined through a chain of more than ${MAX_NESTING} lets`, lets.get(name)!.nameSpan, "each let that uses another counts one level; flatten the chain");
  }
}

/** The word after `task` (countdown, arithmetic, ...), or null when absent or not a word. */
function taskKindOf(top: readonly A.Setting[]): string | null {
  const v = top.find((s) => s.key === "task")?.value;
  return v?.kind === "expr" && v.expr.kind === "name" ? v.expr.name : null;
}
