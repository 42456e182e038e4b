// The report's credit view: one run's recorded responses with the credit two pipelines give
// them, token by token and step by step. Both sides are computed the same way, by the
// compiler's float64 interpreter (compiler/plan/replay.ts, `acpo replay --interpret`) on the
// run's own samples.jsonl lines, one optimizer step's lines at a time, so the two credits
// always refer to identical tokens. A token's credit is advantage x token weight (what
// multiplies its log-probability in the policy-gradient term; null where the token mask
// drops it); a step's credit is the mean over its tokens in the loss.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { formatAll, loadPipeline, type Pipeline, type Stage } from "../../../compiler/index.js";
import { BatchError, batchFromRecords, plannedSteps, replay } from "../../../compiler/plan/artifact.js";
import { RUN_FILES, type RunData, modelPathOf, num, readJsonlRecords } from "./load.js";
import { sampleProblem } from "./sample-check.js";
import { tokenPieces } from "./samples.js";

/** The credit view cannot be built; the message names the run, pipeline or line and what to do. */
export class CreditError extends Error {
  override name = "CreditError";
}

/** A pipeline to score with, and where it came from (a file, or a run's stored pipeline). */
export interface CreditPipeline {
  pipeline: Pipeline;
  source: string;
}

/** One pipeline's credit for one response: per token (L) and per step (K). */
export interface CreditSide {
  stage: string;
  tokens: (number | null)[];
  steps: (number | null)[];
}

export interface CreditSample {
  step: number | null;
  group: number | null;
  reward: number | null;
  correct: boolean | null;
  tokens: number[];
  pieces: string[] | null;
  stepStarts: number[];
  /** [run's pipeline, other pipeline]. */
  credit: [CreditSide, CreditSide];
}

export interface CreditView {
  run: string;
  pipelines: [string, string];
  sources: [string, string];
  /** |credit| at which token colour saturates (both columns share it): the 95th percentile over all shown tokens. */
  scale: number;
  samples: CreditSample[];
  tokenNote: string | null;
}

/** The run's own pipeline, from config.resolved.json's pipeline_text (spec/run.md). */
export function runPipeline(run: RunData): CreditPipeline {
  const cfgPath = join(run.dir, RUN_FILES.config);
  return storedPipeline(cfgPath, run.config);
}

/** The stored pipeline of the run directory `dir` (for `--credit-vs RUN_DIR`). */
export function runDirPipeline(dir: string): CreditPipeline {
  const cfgPath = join(dir, RUN_FILES.config);
  if (!existsSync(cfgPath)) throw new CreditError(`${dir}: not a run directory (no ${RUN_FILES.config}); give a pipeline file (.acpo) or a run directory`);
  let cfg: unknown;
  try {
    cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
  } catch (e) {
    throw new CreditError(`${cfgPath}: not valid JSON (${(e as Error).message})`);
  }
  return storedPipeline(cfgPath, typeof cfg === "object" && cfg !== null && !Array.isArray(cfg) ? (cfg as Record<string, unknown>) : null);
}

function storedPipeline(cfgPath: string, cfg: Record<string, unknown> | null): CreditPipeline {
  const text = cfg?.pipeline_text;
  const file = (cfg?.pipeline as { file?: unknown } | undefined)?.file;
  if (typeof text !== "string" || typeof file !== "string") throw new CreditError(`${cfgPath}: no stored pipeline (fields 'pipeline_text' and 'pipeline.file'), so the run's credit cannot be recomputed; the credit view needs a run written by acpo train`);
  const r = loadPipeline(file, { text });
  if (!r.pipeline) throw new CreditError(`${cfgPath}: the run's stored pipeline (pipeline_text) does not check with this version of acpo:\n${formatAll(r)}`);
  return { pipeline: r.pipeline, source: cfgPath };
}

/** Is `path` a directory (a run) rather than a pipeline file? */
export function isRunDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** First optimizer step of each stage when every stage ends on a step count, else null. */
function stageStarts(p: Pipeline): number[] | null {
  const starts: number[] = [];
  for (let k = 0; k < p.stages.length; k++) {
    const before = plannedSteps({ ...p, stages: p.stages.slice(0, k) });
    if (before === null) return null;
    starts.push(before);
  }
  return starts;
}

/**
 * The stage that scores a line recorded in stage `name` at optimizer step `step`: the stage
 * of that name, else the one running at that step when the stages end on step counts, else
 * the first. Also the `steps` counter inside it (0 when the stage's start is unknown).
 */
export function stageFor(p: Pipeline, name: string | null, step: number | null): { stage: Stage; steps: number } {
  const starts = stageStarts(p);
  let k = p.stages.findIndex((s) => s.name === name);
  if (k < 0 && starts && step !== null) k = Math.max(0, starts.findLastIndex((s) => s < step));
  if (k < 0) k = 0;
  const steps = starts && step !== null ? Math.max(0, step - starts[k]!) : 0;
  return { stage: p.stages[k]!, steps };
}

interface Line {
  obj: Record<string, unknown>;
  where: string;
}

/** samples.jsonl lines the viewer shows (as load.ts keeps them), with file:line for messages. */
function sampleLines(run: RunData): Line[] {
  const path = join(run.dir, RUN_FILES.samples);
  if (!existsSync(path)) return [];
  return readJsonlRecords(path).records.filter((r) => sampleProblem(r.value) === null).map((r) => ({ obj: r.value, where: `${path}:${r.line}` }));
}

/** Lines grouped by their optimizer step, in file order. */
function byStep(lines: readonly Line[]): Line[][] {
  const steps = new Map<string, Line[]>();
  for (const l of lines) {
    const key = String(num(l.obj.step));
    steps.set(key, [...(steps.get(key) ?? []), l]);
  }
  return [...steps.values()];
}

const same = (a: readonly (number | null)[], b: readonly (number | null)[]) => a.every((x, i) => x === b[i] || (x !== null && b[i] !== null && Math.abs(x - b[i]!) <= 1e-12 * Math.max(1, Math.abs(x))));

/** Per response: token credits (advantage x weight, null outside the mask). */
async function tokenCredits(p: CreditPipeline, stage: Stage, steps: number, step: number | null, lines: readonly Line[], refShift: number | null): Promise<(number | null)[][]> {
  const stand = (l: Line) => (l.obj.old_logp as (number | null)[]).map((x) => (x === null ? null : x + refShift!));
  const raw = lines.map((l) => ({ obj: refShift !== null && l.obj.ref_logp === undefined ? { ...l.obj, ref_logp: stand(l) } : l.obj, where: l.where }));
  const path = lines[0]!.where.replace(/:\d+$/, "");
  const file = batchFromRecords(raw, { steps, total_steps: step ?? 0 }, path);
  const out = await replay(p.pipeline, stage.name, file, path);
  return out.sequences.map((s) => s.tokens.map((t) => (t.mask && t.advantage !== null && t.weight !== null ? t.advantage * t.weight : null)));
}

/**
 * Credits of one step's lines under one pipeline. A stage with a reference policy reads
 * ref_logp, which a run without a reference does not record: the lines are scored with it
 * set to old log p and to old log p - 1 (log p equals old log p at the recorded first
 * pass, so it would not tell), and used when the credit is the same either way (the
 * reference enters only the KL term); otherwise the view cannot be built.
 */
async function stepCredits(p: CreditPipeline, lines: readonly Line[]): Promise<{ stage: string; tokens: (number | null)[][] }> {
  const first = lines[0]!.obj;
  const step = num(first.step);
  const { stage, steps } = stageFor(p.pipeline, typeof first.stage === "string" ? first.stage : null, step);
  const where = `pipeline ${p.pipeline.name} (${p.source}), stage ${stage.name}`;
  try {
    if (stage.reference.kind === "none" || lines.every((l) => l.obj.ref_logp !== undefined)) return { stage: stage.name, tokens: await tokenCredits(p, stage, steps, step, lines, null) };
    const a = await tokenCredits(p, stage, steps, step, lines, 0);
    const b = await tokenCredits(p, stage, steps, step, lines, -1);
    if (!a.every((x, i) => same(x, b[i]!)))
      throw new CreditError(`${where}: its credit depends on the reference policy's log-probs (ref_logp), which ${lines[0]!.where.replace(/:\d+$/, "")} does not record (the run had no reference policy); compare with a pipeline whose advantage and token weight do not read ref_logp`);
    return { stage: stage.name, tokens: a };
  } catch (e) {
    if (e instanceof BatchError) throw new CreditError(`${where}: cannot score the run's samples: ${e.message}`);
    throw e;
  }
}

/** Mean of the non-null token credits of each step; null for a step with none. */
export function stepMeans(tokens: readonly (number | null)[], starts: readonly number[]): (number | null)[] {
  return starts.map((s, k) => {
    const end = k + 1 < starts.length ? starts[k + 1]! : tokens.length;
    const xs = tokens.slice(s, end).filter((x): x is number => x !== null);
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
  });
}

/** |credit| where the colour saturates: the 95th percentile over every token of both sides. */
export function creditScale(samples: readonly CreditSample[]): number {
  const xs = samples.flatMap((s) => s.credit.flatMap((c) => c.tokens.filter((x): x is number => x !== null).map(Math.abs))).sort((a, b) => a - b);
  if (xs.length === 0) return 1;
  const q = xs[Math.min(xs.length - 1, Math.floor(0.95 * xs.length))]!;
  return q > 0 ? q : 1;
}

/** The credit view of `run`'s samples under its own pipeline and `other`. */
export async function creditView(run: RunData, other: CreditPipeline): Promise<CreditView> {
  const own = runPipeline(run);
  const lines = sampleLines(run);
  if (lines.length === 0) throw new CreditError(`${run.dir}: no samples (${RUN_FILES.samples}) to show credit for; the credit view re-scores a run's recorded responses`);
  const pieces = tokenPieces(modelPathOf(run.config));
  const samples: CreditSample[] = [];
  for (const group of byStep(lines)) {
    const [a, b] = [await stepCredits(own, group), await stepCredits(other, group)];
    group.forEach(({ obj }, i) => {
      const tokens = obj.tokens as number[];
      const starts = Array.isArray(obj.step_starts) ? (obj.step_starts as number[]) : [0];
      let text: string[] | null = null;
      if (typeof pieces === "function") {
        try {
          text = pieces(tokens);
        } catch {
          text = null; // an id outside this tokenizer's vocabulary: show ids
        }
      }
      const side = (c: { stage: string; tokens: (number | null)[][] }): CreditSide => ({ stage: c.stage, tokens: c.tokens[i]!, steps: stepMeans(c.tokens[i]!, starts) });
      const reward = num(obj.reward);
      samples.push({
        step: num(obj.step),
        group: num(obj.group),
        reward,
        correct: typeof obj.correct === "boolean" ? obj.correct : reward === null ? null : reward > 0,
        tokens,
        pieces: text,
        stepStarts: starts,
        credit: [side(a), side(b)],
      });
    });
  }
  return {
    run: run.name,
    pipelines: [own.pipeline.name, other.pipeline.name],
    sources: [own.source, other.source],
    scale: creditScale(samples),
    samples,
    tokenNote: typeof pieces === "string" ? `tokens shown as ids: ${pieces}` : null,
  };
}
