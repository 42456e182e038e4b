// `acpo export verl`: a pipeline as a Python package verl loads through its `verl.plugins`
// entry point. The numerics (advantage estimator, policy loss with its aggregation) are
// generated from the stage's IR graph by the PyTorch back end (compiler/torch/); the
// adapters and the registration module are fixed files (export/verl/python/) copied as
// they are; the Hydra config maps rollout, optimizer and evaluation settings to verl keys.
// What verl cannot run as written is refused (check.ts) before anything is written.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { lowerStage, type StageProgram } from "../../compiler/ir/stage.js";
import type { Pipeline, Stage } from "../../compiler/pipeline.js";
import { emitFunction, emitModule, pyFloat, pyIdent, pyString, TORCH_RUNTIME, type TorchFunction } from "../../compiler/torch/index.js";
import { ESTIMATOR_INPUTS, LOSS_INPUTS, featureRefusals, inputRefusals, inputsRead, klMapping, TRAINER_INPUTS, type KlMapping } from "./check.js";
import { rewardSpec } from "./reward.js";
import { stageChain, stageSpans, type StageSpan } from "./stages.js";
import { hydraConfig } from "./hydra.js";
import { packageReadme } from "./readme.js";

const PY = new URL("./python/", import.meta.url);

export class ExportRefused extends Error {
  constructor(readonly pipeline: string, readonly reasons: string[]) {
    super(`pipeline ${pipeline} cannot be exported to verl:\n${reasons.map((r) => `  - ${r}`).join("\n")}`);
    this.name = "ExportRefused";
  }
}

export const VERL_AGG: Record<Pipeline["loss"]["aggregate"], string> = {
  token_mean: "token-mean",
  seq_mean_token_mean: "seq-mean-token-mean",
  seq_mean_token_sum: "seq-mean-token-sum",
  token_sum_norm: "seq-mean-token-sum-norm",
};

/** One stage as the exported trainer runs it. */
export interface StagePlan {
  name: string;
  /** The stage after it (null: the run ends). */
  next: string | null;
  /** Optimizer steps it runs (its `until`, evaluated on the counters) and the run's steps before it. */
  steps: number;
  start: number;
  /** Its KL term as verl's KL loss, null without one. */
  kl: KlMapping | null;
  /** The policy its KL term compares against: "initial" or a stage's name; null without a KL term. */
  reference: string | null;
  /** verl's policy_loss.loss_mode of its loss (the registered name). */
  lossMode: string;
  /** Python name of its generated loss function in numerics.py. */
  lossFn: string;
}

export interface ExportPlan {
  pipeline: Pipeline;
  /** Python package name: acpo_<pipeline name>. */
  pkg: string;
  numerics: string;
  /** The first stage's KL mapping (the Hydra config's use_kl_loss settings). */
  kl: KlMapping | null;
  /** verl's total_training_steps: the stages' steps, summed along the chain. */
  steps: number;
  stages: StagePlan[];
  /** Stages differ in loss, KL or reference: the ACPO trainer switches them (a loss per stage). */
  staged: boolean;
  /** Segmentation, attribution or entropy in the advantage: the ACPO trainer computes the advantage. */
  acpoAdvantage: boolean;
  /** The ACPO trainer subclass runs (acpoAdvantage or staged). */
  usesTrainer: boolean;
}

/** Python modules copied into every package as they are (export/verl/python/). */
export const PY_MODULES = ["adapters.py", "verl_plugin.py", "trainer.py", "acpo_step.py", "schedule.py", "segment.py", "attribution.py", "verifiers.py", "math_verify.py", "reward.py", "jsstr.py"];

/** The loss of stage `i` as Python (the advantage provided), for comparing stages. */
function lossCode(p: Pipeline, i: number): string {
  const { loss } = verlPrograms(p, i);
  return emitFunction({ name: "f", nodes: loss.nodes, outputs: { loss: loss.loss, clip_low: loss.tokens.clipLow, clip_high: loss.tokens.clipHigh, ratio: loss.tokens.ratio }, provided: { [loss.tokens.advantage]: "advantage" } });
}

/** Refusals of stage `index`'s loss: inputs verl's policy loss does not receive, group values, a token mask. */
function lossRefusals(p: Pipeline, index: number): string[] {
  const stage = p.stages[index]!;
  const { loss } = verlPrograms(p, index);
  const provided = { [loss.tokens.advantage]: "advantage" };
  const lossRoots = [loss.loss, loss.tokens.clipLow, loss.tokens.clipHigh];
  const out = inputRefusals(inputsRead(loss.nodes, lossRoots, provided), LOSS_INPUTS, `stage ${stage.name}'s token weight or mask`, "loss");
  if (levelsRead(loss.nodes, lossRoots, provided).has("group")) out.push(`stage ${stage.name}'s token weight or mask uses group-level values, which a verl micro-batch does not hold whole`);
  const mask = loss.nodes[loss.tokens.mask]!;
  if (mask.op !== "const" || mask.value === 0) out.push(`stage ${stage.name}: a \`token_mask\` changes the loss's denominators, which verl counts from the response mask (batch_num_tokens); remove it to export`);
  return out;
}

/** Check the pipeline and generate the numerics module; throws ExportRefused. */
export function planExport(p: Pipeline): ExportPlan {
  const reasons = featureRefusals(p);
  const chain = stageChain(p);
  const index = (s: Stage) => p.stages.indexOf(s);
  const kls = chain.map((s) => klMapping(p, s));
  for (const k of kls) if (typeof k === "string") reasons.push(k);
  const { adv } = verlPrograms(p);
  const advRead = inputsRead(adv.nodes, [adv.tokens.advantage]);
  reasons.push(...inputRefusals(advRead, ESTIMATOR_INPUTS, "the advantage", "estimator"));
  for (const s of chain) reasons.push(...lossRefusals(p, index(s)));
  const spans = stageSpans(p);
  if (typeof spans[0] === "string") reasons.push(...(spans as string[]));
  if (reasons.length > 0) throw new ExportRefused(p.name, reasons);
  const stage = chain[0]!;
  const codes = chain.map((s) => lossCode(p, index(s)));
  const refOf = (s: Stage, k: KlMapping | null) => (k === null ? null : s.reference.kind === "stage" ? s.reference.name : "initial");
  const refs = chain.map((s, i) => refOf(s, kls[i] as KlMapping | null));
  const staged = chain.some((_, i) => codes[i] !== codes[0] || JSON.stringify(kls[i]) !== JSON.stringify(kls[0]) || (refs[i] !== null && refs[i] !== "initial"));
  const acpoAdvantage = p.segment !== null || p.attribution !== null || advRead.some((n) => TRAINER_INPUTS.has(n));
  const usesTrainer = acpoAdvantage || staged;
  const registry = `acpo_${p.name}`;
  const stages: StagePlan[] = (spans as StageSpan[]).map((sp, i) => ({
    name: sp.stage.name, next: sp.stage.next, steps: sp.steps, start: sp.start, kl: kls[i] as KlMapping | null, reference: refs[i]!,
    lossMode: staged ? `${registry}__${sp.stage.name}` : registry,
    lossFn: staged ? `policy_loss_${pyIdent(sp.stage.name)}` : "policy_loss",
  }));
  const header = [
    `Generated by \`acpo export verl\` from ${relative(process.cwd(), p.file) || p.file} (pipeline ${p.name}, stages ${chain.map((s) => s.name).join(", ")}): do not edit.`,
    "The IR graphs of the stages, lowered by acpo's PyTorch back end; meaning: acpo's float64 interpreter.",
  ];
  const consts = [
    `NAME = ${pyString(p.name)}`,
    "# verl registry name: prefixed, so a pipeline called grpo or gspo does not collide with verl's own.",
    `REGISTRY_NAME = ${pyString(registry)}`,
    `STAGE = ${pyString(stage.name)}`,
    `PARAMS = {${p.params.map((q) => `${pyString(q.name)}: ${pyFloat(q.value)}`).join(", ")}}`,
    `AGGREGATE = ${pyString(p.loss.aggregate)}`,
    `VERL_LOSS_AGG_MODE = ${pyString(VERL_AGG[p.loss.aggregate])}`,
    "# The ACPO trainer subclass (trainer.py) computes the advantage: segmentation, attribution or entropy.",
    `ACPO_ADVANTAGE = ${acpoAdvantage ? "True" : "False"}`,
    "# The ACPO trainer subclass switches stages (a loss per stage, KL settings, frozen references).",
    `STAGED = ${staged ? "True" : "False"}`,
    `USES_TRAINER = ${usesTrainer ? "True" : "False"}`,
    `SEGMENT = ${pyLiteral(segmentSpec(p))}`,
    `ATTRIBUTION = ${pyLiteral(p.attribution && p.segment ? { measure: p.attribution.measure, judge: p.attribution.judge.kind } : null)}`,
    `TOTAL_STEPS = ${plannedTotal(stages)}`,
    "# The task's verifier for reward.py (verl's custom_reward_function), with acpo's task options.",
    `REWARD = ${pyLiteral(rewardSpec(p))}`,
    "",
  ];
  const lossFns: TorchFunction[] = chain.flatMap((s, i) => {
    if (!staged && i > 0) return [];
    const { loss } = verlPrograms(p, index(s));
    return [{
      name: stages[i]!.lossFn,
      nodes: loss.nodes,
      outputs: { loss: loss.loss, clip_low: loss.tokens.clipLow, clip_high: loss.tokens.clipHigh, ratio: loss.tokens.ratio },
      provided: { [loss.tokens.advantage]: "advantage" },
      doc: [`Stage ${s.name}: clipped surrogate, token weights and aggregation over the batch given, with the advantage`, "provided (x['advantage']); without the KL term and entropy bonus, which verl adds."],
    }];
  });
  const untilFns: TorchFunction[] = (spans as StageSpan[]).map((sp) => ({
    name: `until_${pyIdent(sp.stage.name)}`, nodes: sp.until.nodes, outputs: { until: sp.until.root },
    doc: [`Stage ${sp.stage.name}'s \`until\` after a step (nonzero: the stage ends); reads x['steps'], x['total_steps'].`],
  }));
  const module = emitModule(header, [
    { name: "advantage", nodes: adv.nodes, outputs: { advantage: adv.tokens.advantage }, doc: ["The pipeline's advantage at each token (stop-gradient), from rewards and groups."] },
    ...lossFns,
    ...untilFns,
  ], consts);
  const numerics = `${module}${staged ? `\npolicy_loss = ${stages[0]!.lossFn}\n` : ""}\n${stagesTable(stages)}`;
  return { pipeline: p, pkg: registry, numerics, kl: stages[0]!.kl, steps: plannedTotal(stages), stages, staged, acpoAdvantage, usesTrainer };
}

const plannedTotal = (stages: StagePlan[]): number => stages.reduce((a, s) => a + s.steps, 0);

/** The STAGES table of numerics.py: per stage its next, loss, until, KL, reference and planned steps. */
function stagesTable(stages: StagePlan[]): string {
  const row = (s: StagePlan) => [
    `    ${pyString(s.name)}: {`,
    `        "next": ${pyLiteral(s.next)}, "loss_mode": ${pyString(s.lossMode)}, "policy_loss": ${s.lossFn}, "until": until_${pyIdent(s.name)},`,
    `        "kl": ${pyLiteral(s.kl)}, "reference": ${pyLiteral(s.reference)}, "steps": ${s.steps},`,
    "    },",
  ].join("\n");
  return [
    "# The stage chain in the order it runs (first: FIRST_STAGE). kl: verl's KL loss settings",
    "# (kl_loss_type, kl_loss_coef) or None; reference: the policy the KL compares against,",
    "# \"initial\" or the policy frozen at the end of the named stage; steps: as planned from `until`.",
    `FIRST_STAGE = ${pyString(stages[0]!.name)}`,
    "STAGES = {",
    ...stages.map(row),
    "}",
    "# Stages whose end freezes a copy of the policy that a later stage's KL compares against.",
    `FREEZE = ${pyLiteral([...new Set(stages.map((s) => s.reference).filter((r): r is string => r !== null && r !== "initial"))])}`,
    "",
  ].join("\n");
}

/** The pipeline's segment block as segment.py's rules (snake_case), or null. */
function segmentSpec(p: Pipeline): unknown {
  const s = p.segment;
  if (!s) return null;
  if (s.kind === "entropy") return { kind: "entropy", candidates: s.candidates, markers: s.markers, min_gap: s.minGap, align: s.align };
  if (s.kind === "newline") return { kind: "newline", min_gap: s.minGap };
  if (s.kind === "fixed") return { kind: "fixed", length: s.length };
  return { kind: "none" };
}

/** A JSON-like value as a Python literal (None, True/False, floats with inf/nan spelled out). */
export function pyLiteral(v: unknown): string {
  if (v === null || v === undefined) return "None";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "number") return pyFloat(v);
  if (typeof v === "string") return pyString(v);
  if (Array.isArray(v)) return `[${v.map(pyLiteral).join(", ")}]`;
  return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${pyString(k)}: ${pyLiteral(x)}`).join(", ")}}`;
}

/**
 * The IR programs behind the exported functions: the stage as written (its advantage), and
 * the stage without its KL term and entropy bonus (the policy loss): verl adds those two
 * itself (use_kl_loss, entropy_coeff), aggregated like the policy loss.
 */
export function verlPrograms(p: Pipeline, index = 0): { adv: StageProgram; loss: StageProgram } {
  const stage = p.stages[index]!;
  const lossPipeline: Pipeline = { ...p, loss: { ...p.loss, entropyBonus: 0 } };
  return { adv: lowerStage(p, stage), loss: lowerStage(lossPipeline, { ...stage, kl: null }) };
}

function levelsRead(nodes: Parameters<typeof inputsRead>[0], roots: number[], provided: Record<number, string>): Set<string> {
  const seen = new Set<string>();
  const stack = [...roots];
  const done = new Set<number>();
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (done.has(id)) continue;
    done.add(id);
    seen.add(nodes[id]!.level);
    if (id in provided) continue;
    const n = nodes[id]!;
    if ("args" in n) stack.push(...n.args);
  }
  return seen;
}

/** Write the package to `out`; returns the files written (relative to `out`). */
export function writeExport(plan: ExportPlan, out: string): string[] {
  const { pipeline: p, pkg } = plan;
  const files: Record<string, string> = {
    "pyproject.toml": pyproject(plan),
    [`${pkg}/__init__.py`]: `"""acpo pipeline ${p.name} for verl: numerics.py (generated), adapters.py, verl_plugin.py (registration; loaded by verl only)."""\n`,
    [`${pkg}/numerics.py`]: plan.numerics,
    [`config/${pkg}.yaml`]: hydraConfig(plan),
    "README.md": packageReadme(plan),
  };
  mkdirSync(join(out, pkg), { recursive: true });
  mkdirSync(join(out, "config"), { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(out, f), text);
  copyFileSync(TORCH_RUNTIME, join(out, pkg, "acpo_ir.py"));
  for (const f of PY_MODULES) writeFileSync(join(out, pkg, f), readFileSync(new URL(f, PY), "utf8"));
  return [...Object.keys(files), `${pkg}/acpo_ir.py`, ...PY_MODULES.map((f) => `${pkg}/${f}`)].sort();
}

function pyproject(plan: ExportPlan): string {
  const { pipeline: p, pkg } = plan;
  return `# Generated by acpo export verl (pipeline ${p.name}).
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "${pkg.replace(/_/g, "-")}"
version = "0.1.0"
description = "acpo pipeline ${p.name} as a verl plug-in (advantage estimator and policy loss '${p.name}')"
requires-python = ">=3.9"
dependencies = ["torch", "numpy"]

# verl imports every module in this group at start-up (VERL_USE_EXTERNAL_PLUGINS, default "auto").
[project.entry-points."verl.plugins"]
${pkg} = "${pkg}.verl_plugin"

[tool.setuptools]
packages = ["${pkg}"]
`;
}
