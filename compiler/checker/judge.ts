// The `judge { ... }` block: a generative process reward model (runtime/loop/rl/judge.ts) whose
// log-probability of a fixed verdict after each step is the step value `judge_score`.
import type * as A from "../ast.js";
import { MAX_JUDGE_TEXT } from "../limits.js";
import type * as P from "../pipeline.js";
import { BlockReader } from "./block.js";
import { pathFrom, type SettingsCtx } from "./settings.js";

/** Keys of the judge block (the LSP's settings table lists the same). */
export const JUDGE_KEYS = ["model", "question", "verdict"] as const;

export function decodeJudge(ctx: SettingsCtx, s: A.Setting): P.Judge | undefined {
  if (s.value) {
    ctx.diags.error("E0402", "`judge` takes a block only: judge { model \"DIR\"  verdict \" correct\" }", s.value.span);
    return undefined;
  }
  const r = new BlockReader("`judge`", s.block ?? [], JUDGE_KEYS, s.blockSpan ?? s.span, ctx.diags, ctx.exprs);
  const model = r.str("model");
  const question = r.str("question", "");
  const verdict = r.str("verdict");
  if (!r.ok) return undefined;
  const verdictAt = r.get("verdict")!;
  if (verdict.length === 0) {
    ctx.diags.error("E0401", "`verdict` must not be empty: judge_score is the log-probability of its tokens", verdictAt.value?.span ?? verdictAt.span, 'e.g. verdict " correct"');
    return undefined;
  }
  for (const [key, text] of [["question", question], ["verdict", verdict]] as const) {
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
  return { model: pathFrom(model, r.get("model")!.value!.span), question, verdict };
}
