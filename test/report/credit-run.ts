// A hand-made ACPO run for the credit view's tests: two optimizer steps, two prompt groups
// each, with rewards, attribution scores and step entropies chosen so that the credits of
// examples/acpo.acpo and of a variant with alpha 5 have opposite signs at known steps. The
// expected credits are written out from ACPO's formula (examples/acpo.acpo) in creditOf.
import { writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { loadPipeline } from "../../compiler/index.js";
import { resolvedConfig } from "../../runtime/loop/run/run-dir-config.js";
import { jsonLine } from "../../runtime/loop/run/run-dir-jsonl.js";
import { mkdirSync } from "node:fs";
import { writeTokenizerFolder } from "./synthetic-runs.js";

export interface HandLine {
  step: number;
  group: number;
  reward: number;
  C: number[];
  stepEntropy: number[];
}

/** Three steps per response ("First ... Then ... So ..."); C and H per step. */
export const HAND_LINES: HandLine[] = [
  { step: 5, group: 0, reward: 1, C: [-0.6, 0.2, 0], stepEntropy: [0.3, 0.9, 0.5] },
  { step: 5, group: 0, reward: 0, C: [0.4, -0.4, 0], stepEntropy: [0.6, 0.2, 0.4] },
  { step: 5, group: 1, reward: 1, C: [0.1, 0.3, 0], stepEntropy: [0.5, 0.5, 0.5] },
  { step: 5, group: 1, reward: 1, C: [0.2, -0.1, 0], stepEntropy: [0.4, 0.3, 0.7] },
  { step: 10, group: 0, reward: 0, C: [0.5, 0.1, 0], stepEntropy: [0.2, 0.8, 0.3] },
  { step: 10, group: 0, reward: 1, C: [0.3, 0.3, 0], stepEntropy: [0.7, 0.1, 0.2] },
];

export const TEXT = "First, 7*3=21. Then, 21+4=25. So, <answer>7*3+4</answer>";

/** examples/acpo.acpo's alpha: the run's own pipeline scores its credit with it. */
export const EXAMPLE_ALPHA = loadPipeline(resolve("examples/acpo.acpo")).pipeline!.params.find((p) => p.name === "alpha")!.value;

/** ACPO's per-step advantage (examples/acpo.acpo, explore stage: token weight 1) for line `i` of HAND_LINES. */
export function creditOf(i: number, alpha: number): number[] {
  const line = HAND_LINES[i]!;
  const group = HAND_LINES.filter((l) => l.step === line.step && l.group === line.group).map((l) => l.reward);
  const mean = group.reduce((a, b) => a + b, 0) / group.length;
  const std = Math.sqrt(group.reduce((a, b) => a + (b - mean) ** 2, 0) / group.length);
  const eps = 1e-6, beta = 0.3, gamma = 0.2, theta = 0.05;
  const A = (line.reward - mean) / (std + eps);
  const sumAbs = line.C.reduce((a, c) => a + Math.abs(c), 0);
  const Cn = line.C.map((c) => c / (sumAbs + eps));
  const median = [...line.stepEntropy].sort((a, b) => a - b)[1]!;
  return Cn.map((c, k) => {
    const H = line.stepEntropy[k]!;
    const w = A > 0 && c > theta && H > median ? 1 + beta * H : 1 - gamma;
    return A + alpha * A * c * w;
  });
}

/** GRPO's advantage (examples/grpo.acpo: sample std, eps 1e-4) for line `i`, the same at every token. */
export function grpoCreditOf(i: number): number {
  const line = HAND_LINES[i]!;
  const group = HAND_LINES.filter((l) => l.step === line.step && l.group === line.group).map((l) => l.reward);
  const mean = group.reduce((a, b) => a + b, 0) / group.length;
  const sd = Math.sqrt(group.reduce((a, b) => a + (b - mean) ** 2, 0) / (group.length - 1));
  return (line.reward - mean) / (sd + 1e-4);
}

/** Write the run (and a tokenizer folder it names) under `root`; returns the run directory. */
export function writeCreditRun(root: string, lines: readonly HandLine[] = HAND_LINES, extra: (l: HandLine) => Record<string, unknown> = () => ({})): string {
  const modelDir = join(root, "model");
  const tok = writeTokenizerFolder(modelDir);
  const loaded = loadPipeline(resolve("examples/acpo.acpo"));
  if (!loaded.pipeline) throw new Error("examples/acpo.acpo does not check");
  const pipeline = { ...loaded.pipeline, model: { path: modelDir } };
  const dir = join(root, "acpo-run");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.resolved.json"), JSON.stringify(resolvedConfig({ pipeline, seed: 0, adapter: "hand-made (no device)", steps: 60 }, new Date(Date.UTC(2025, 0, 1)))));
  writeFileSync(join(dir, "metrics.jsonl"), [5, 10].map((step) => jsonLine({ step, stage: "explore", reward_mean: 0.5 })).join(""));
  const tokens = tok.encode(TEXT);
  const starts = [0, TEXT.indexOf("Then"), TEXT.indexOf("So")].map((c) => tok.encode(TEXT.slice(0, c)).length);
  const samples = lines.map((l) =>
    jsonLine({
      group: l.group, reward: l.reward, correct: l.reward > 0, tokens,
      old_logp: tokens.map(() => -0.5), logp: tokens.map(() => -0.5), entropy: tokens.map(() => 0.4), old_entropy: tokens.map(() => 0.4),
      step_starts: starts, C: l.C, step_entropy: l.stepEntropy, step: l.step, stage: "explore", prompt: "Use 7 3 4 to make 25.", text: TEXT, answer: "7*3+4", reason: "",
      ...extra(l),
    }),
  );
  writeFileSync(join(dir, "samples.jsonl"), samples.join(""));
  return dir;
}

/** A pipeline file beside `root` that extends an example with other lines (e.g. `param alpha = 5`). */
export function writeVariant(root: string, name: string, parent: string, body: string): string {
  const file = join(root, `${name}.acpo`);
  writeFileSync(file, `pipeline ${name} extends "${relative(root, resolve("examples", parent))}" {\n  ${body}\n}\n`);
  return file;
}
