// Stages: each stage's stop condition, reference policy, KL term, token weights and
// prompt sampling, and the stage graph (order, `then` jumps, cycles, unreachable stages).
import type * as A from "../ast.js";
import { suggest, type Diagnostics } from "../diagnostics.js";
import { isFinerThan } from "../levels.js";
import type * as P from "../pipeline.js";
import { BlockReader } from "./block.js";
import type { ExprChecker } from "./expr.js";
import { neverHolds } from "./until.js";

const STAGE_KEYS = ["reference", "kl", "token_weight", "token_mask", "sample"];
const REFERENCE_NEEDERS = ["k1", "k2", "k3", "ref_logp"];

/** Order the stages by following `then` (default: the next stage in the file) from the first. */
export function stageOrder(stages: readonly A.StageDecl[], diags: Diagnostics): A.StageDecl[] | undefined {
  const byName = new Map(stages.map((s) => [s.name, s]));
  const next = (i: number): A.StageDecl | null | undefined => {
    const s = stages[i]!;
    if (!s.next) return stages[i + 1] ?? null;
    if (s.next.name === "end") return null;
    const t = byName.get(s.next.name);
    if (!t) {
      diags.error("E0503", `unknown stage \`${s.next.name}\` after \`then\``, s.next.span, suggest(s.next.name, [...byName.keys(), "end"], "stages"));
      return undefined;
    }
    return t;
  };
  const order: A.StageDecl[] = [];
  let ok = true;
  let cur: A.StageDecl | null | undefined = stages[0];
  while (cur) {
    if (order.includes(cur)) {
      const from = order[order.length - 1]!;
      const path = [...order.slice(order.indexOf(cur)).map((s) => s.name), cur.name].join(" -> ");
      diags.error("E0501", `stages form a cycle: ${path}`, from.next?.span ?? from.nameSpan, "a run must end: the last stage's `then` should be omitted or `end`");
      ok = false;
      break;
    }
    order.push(cur);
    const n = next(stages.indexOf(cur));
    if (n === undefined) {
      ok = false;
      break;
    }
    cur = n;
  }
  if (ok) {
    for (const s of stages) {
      if (!order.includes(s)) {
        diags.error("E0502", `stage \`${s.name}\` is never reached`, s.nameSpan, `the run goes ${order.map((o) => o.name).join(" -> ")}; point a \`then\` at it or remove it`);
        ok = false;
      }
    }
  }
  return ok ? order : undefined;
}

export function decodeStage(
  s: A.StageDecl,
  before: readonly string[],
  allStages: readonly string[],
  diags: Diagnostics,
  exprs: ExprChecker,
  next: string | null,
): P.Stage | undefined {
  const r = new BlockReader(`stage ${s.name}`, s.body, STAGE_KEYS, s.span, diags, exprs);
  let ok = true;

  const until = exprs.check(s.until, "until");
  if (!until) ok = false;
  else if (until.type !== "bool") {
    diags.error("E0302", "a stop condition must be true or false", s.until.span, "e.g. `until steps >= 100` or `until mean(H over batch) < 0.3`");
    ok = false;
  } else if (isFinerThan(until.level, "batch")) {
    diags.error("E0301", `a stop condition holds for the whole batch, but this one is a ${until.level}-level value`, s.until.span, `reduce it first, e.g. mean(x over batch)`);
    ok = false;
  }
  if (ok) {
    const why = neverHolds(s.until, exprs);
    if (why) diags.warn("W0501", `stage \`${s.name}\` never ends: its \`until\` can never hold (${why})`, s.until.span, "the stage would train until the run is stopped from outside; e.g. `until steps >= 100`");
  }

  let reference: P.Stage["reference"] = { kind: "none" };
  const ref = r.get("reference");
  if (ref) {
    const v = ref.value;
    const name = v?.kind === "expr" && v.expr.kind === "name" && !ref.block ? v.expr.name : undefined;
    if (!name) {
      diags.error("E0402", "`reference` takes `none`, `initial` or the name of an earlier stage", v?.span ?? ref.span);
      ok = false;
    } else if (name === "none" || name === "initial") reference = { kind: name };
    else if (before.includes(name)) reference = { kind: "stage", name };
    else {
      const span = (v as { span: A.Span }).span;
      if (allStages.includes(name))
        diags.error("E0503", `\`reference ${name}\` names a stage that has not finished when \`${s.name}\` starts`, span, `the reference is the policy frozen at the end of a stage that ran before: ${before.join(", ") || "(none; use initial)"}`);
      else diags.error("E0503", `unknown stage \`${name}\``, span, suggest(name, [...before, "initial", "none"], "expected"));
      ok = false;
    }
  }

  const localUses = new Map<string, A.Span>();
  let kl: A.Expr | null = null;
  const klSetting = r.get("kl");
  if (klSetting) {
    const v = klSetting.value;
    if (!v || v.kind !== "expr" || klSetting.block) {
      diags.error("E0402", "`kl` takes a token-level expression such as 0.01 * k3, or 0", v?.span ?? klSetting.span);
      ok = false;
    } else if (!(v.expr.kind === "name" && v.expr.name === "none")) {
      const t = exprs.check(v.expr, "kl", undefined, localUses);
      if (!t) ok = false;
      else if (t.type !== "num") {
        diags.error("E0302", "`kl` must be a number per token", v.expr.span);
        ok = false;
      } else if (exprs.constValue(v.expr) !== 0) kl = v.expr;
    }
  }

  const tokenWeight = exprSetting(r, "token_weight", ["num", "bool"], diags, exprs, localUses) ?? { kind: "number" as const, value: 1, span: s.nameSpan, level: "scalar" as const, type: "num" as const };
  const tokenMask = exprSetting(r, "token_mask", ["bool"], diags, exprs, localUses) ?? { kind: "bool" as const, value: true, span: s.nameSpan, level: "scalar" as const, type: "bool" as const };
  if (r.has("token_weight") && tokenWeight.level === undefined) ok = false;
  if (r.has("token_mask") && tokenMask.level === undefined) ok = false;

  for (const name of REFERENCE_NEEDERS) {
    const at = localUses.get(name);
    if (at && reference.kind === "none") {
      diags.error("E0404", `\`${name}\` compares with a reference policy, but stage \`${s.name}\` has none`, at, before.length ? `add \`reference initial\` or \`reference ${before[before.length - 1]}\`` : "add `reference initial`");
      ok = false;
    }
  }

  const sampling = decodeSampling(r.get("sample"), diags, exprs);
  if (!sampling) ok = false;

  const klEstimators = (["k1", "k2", "k3"] as const).filter((k) => kl !== null && localUses.has(k));
  if (!ok || !r.ok || !sampling) return undefined;
  return { name: s.name, until: s.until, next, reference, kl, klEstimators, tokenWeight, tokenMask, sampling };
}

function exprSetting(r: BlockReader, key: string, types: A.ValueType[], diags: Diagnostics, exprs: ExprChecker, uses: Map<string, A.Span>): A.Expr | undefined {
  const s = r.get(key);
  if (!s) return undefined;
  if (!s.value || s.value.kind !== "expr" || s.block) {
    diags.error("E0402", `\`${key}\` takes an expression`, s.value?.span ?? s.span);
    r.fail();
    return undefined;
  }
  const e = s.value.expr;
  const t = exprs.check(e, "any", undefined, uses);
  if (!t) {
    r.fail();
    return e;
  }
  if (!types.includes(t.type)) {
    diags.error("E0302", `\`${key}\` must be a ${types.includes("num") ? "number" : "condition"}, found a ${t.type === "num" ? "number" : "condition"}`, e.span, key === "token_mask" ? "e.g. token_mask H >= quantile(H over batch, 0.8)" : undefined);
    r.fail();
  }
  return e;
}

function decodeSampling(s: A.Setting | undefined, diags: Diagnostics, exprs: ExprChecker): P.Sampling | undefined {
  if (!s) return { kind: "all" };
  const r0 = new BlockReader("sample", [], [], s.span, diags, exprs);
  const kind = r0.wordOf(s, ["all", "dynamic", "curriculum"] as const);
  if (!kind) return undefined;
  if (kind === "all") {
    const r = new BlockReader("sample all", s.block ?? [], [], s.blockSpan ?? s.span, diags, exprs);
    return r.ok ? { kind } : undefined;
  }
  if (kind === "dynamic") {
    const r = new BlockReader("sample dynamic", s.block ?? [], ["max_rounds"], s.blockSpan ?? s.span, diags, exprs);
    // verl's DAPO recipe caps generation rounds per step at max_num_gen_batches = 10.
    const maxRounds = r.num("max_rounds", { default: 10, int: true, min: 1 });
    return r.ok ? { kind, maxRounds } : undefined;
  }
  const r = new BlockReader("sample curriculum", s.block ?? [], ["priority", "unseen"], s.blockSpan ?? s.span, diags, exprs);
  const p = r.get("priority");
  if (!p) {
    diags.error("E0403", "sample curriculum needs `priority`", s.blockSpan ?? s.span, "e.g. priority accuracy * (1 - accuracy)");
    return undefined;
  }
  if (!p.value || p.value.kind !== "expr") {
    diags.error("E0402", "`priority` takes a group-level expression", p.span);
    return undefined;
  }
  const t = exprs.check(p.value.expr, "any");
  if (!t) return undefined;
  if (t.type !== "num") {
    diags.error("E0302", "`priority` must be a number", p.value.expr.span);
    return undefined;
  }
  if (isFinerThan(t.level, "group")) {
    diags.error("E0301", `\`priority\` ranks prompts, so it must be at most group level, but this is a ${t.level}-level value`, p.value.expr.span, "reduce it, e.g. mean(x over group)");
    return undefined;
  }
  const unseen = r.num("unseen", { default: 1, min: 0 });
  return r.ok ? { kind, priority: p.value.expr, unseen } : undefined;
}
