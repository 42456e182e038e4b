// The `judge { ... }` block: a generative process reward model (runtime/loop/rl/judge.ts) whose
// log-probability of a fixed verdict after each step is the step value `judge_score`; with
// `against`, that probability normalised against the alternative's (GenRM, arXiv 2408.15240).
import type * as A from "../ast.js";
import { MAX_JUDGE_TEXT } from "../limits.js";
import type * as P from "../pipeline.js";
import { BlockReader } from "./block.js";
import { pathFrom, type SettingsCtx } from "./settings.js";

/** Keys of the judge block (the LSP's settings table lists the same). */
export const JUDGE_KEYS = ["model", "question", "verdict", "against"] as const;

export function decodeJudge(ctx: SettingsCtx, s: A.Setting): P.Judge | undefined {
  if (s.value) {
    ctx.diags.error("E0402", "`judge` takes a block only: judge { model \"DIR\"  verdict \" correct\" }", s.value.span);
    return undefined;
  }
  const r = new BlockReader("`judge`", s.block ?? [], JUDGE_KEYS, s.blockSpan ?? s.span, ctx.diags, ctx.exprs);
  const model = r.str("model");
  const question = r.str("question", "");
  const verdict = r.str("verdict");
  const against = r.has("against") ? r.str("against") : undefined;
  if (!r.ok) return undefined;
  const verdictAt = r.get("verdict")!;
  if (verdict.length === 0) {
    ctx.diags.error("E0401", "`verdict` must not be empty: judge_score is the log-probability of its tokens", verdictAt.value?.span ?? verdictAt.span, 'e.g. verdict " correct"');
    return undefined;
  }
  if (against !== undefined && !checkAgainst(ctx, r.get("against")!, verdict, against)) return undefined;
  for (const [key, text] of [["question", question], ["verdict", verdict], ["against", against ?? ""]] as const) {
    if (text.length > MAX_JUDGE_TEXT) {
      const at = r.get(key)!;
      ctx.diags.error("E0401", `\`${key}\` has ${text.length} characters; at most ${MAX_JUDGE_TEXT}`, at.value?.span ?? at.span, "the judge reads it after every step of every response");
      return undefined;
    }
  }
  if (model.length === 0) {
    const at = r.get("model")!;
    ctx.diags.error("E0401", "`model` must name the judge's model folder", at.value?.span ?? at.span, 'e.g. model "../models/countdown-tiny"');
    return undefined;
  }
  return { model: pathFrom(model, r.get("model")!.value!.span), question, verdict, ...(against !== undefined ? { against } : {}) };
}

/**
 * `against` names the verdict's alternative: the score normalises p(verdict) by
 * p(verdict) + p(against), so an empty alternative or the verdict itself has no meaning.
 * (Token-level overlap, one verdict's tokens starting the other's, is refused when the
 * judge's tokenizer is known: runtime/loop/rl/judge.ts.)
 */
function checkAgainst(ctx: SettingsCtx, at: A.Setting, verdict: string, against: string): boolean {
  const span = at.value?.span ?? at.span;
  if (against.length === 0) {
    ctx.diags.error("E0401", "`against` must not be empty: judge_score normalises the verdict's probability against this alternative's", span, 'e.g. verdict " Yes"  against " No"');
    return false;
  }
  if (against === verdict) {
    ctx.diags.error("E0401", `\`against\` is the verdict itself (${JSON.stringify(verdict)}): name its alternative`, span, 'e.g. verdict " Yes"  against " No"');
    return false;
  }
  return true;
}
