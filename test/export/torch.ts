// Test harness of the PyTorch back end: write a generated package to a temporary folder,
// run its functions on interpreter batches with Debian's python3-torch (torch_runner.py),
// and decode the results. Non-finite numbers travel as strings (JSON has none).
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Batch } from "../../compiler/interpret/batch.js";
import { policyFromLogits } from "../../compiler/interpret/batch.js";
import { TORCH_RUNTIME } from "../../compiler/torch/index.js";
import { ensureTorch, runTorchScript } from "../helpers/torch.js";

const RUNNER = fileURLToPath(new URL("./torch_runner.py", import.meta.url));

type Wire = number | "nan" | "inf" | "-inf";

export interface TorchJob {
  module: string;
  fn: string;
  batch: Batch;
  params: Record<string, number>;
  dtype?: "float64" | "float32";
  /** More named inputs, (shape, flat values). */
  extra?: Record<string, { shape: number[]; data: ArrayLike<number> }>;
}

export interface TorchResult {
  outputs: Record<string, Float64Array>;
  grad?: { logp: Float64Array; H: Float64Array };
}

const enc = (xs: ArrayLike<number>): Wire[] => Array.from(xs, (v) => (Number.isFinite(v) ? v : Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf"));
const dec = (xs: Wire[]): Float64Array => Float64Array.from(xs, (v) => (typeof v === "number" ? v : v === "nan" ? NaN : v === "inf" ? Infinity : -Infinity));

/** A package folder `<tmp>/<name>/` with acpo_ir.py and the given modules. */
export function writePackage(name: string, modules: Record<string, string>): string {
  const dir = join(mkdtempSync(join(tmpdir(), "acpo-torch-")), name);
  mkdirSync(dir);
  writeFileSync(join(dir, "__init__.py"), "");
  copyFileSync(TORCH_RUNTIME, join(dir, "acpo_ir.py"));
  for (const [m, text] of Object.entries(modules)) writeFileSync(join(dir, `${m}.py`), text);
  return dir;
}

/** The batch's current-policy logp and H (from logits when it has them). */
export function policyOf(b: Batch): { logp: Float64Array; H: Float64Array } {
  if (b.logits) {
    const { logp, H } = policyFromLogits(b.logits, b.ids, b.B * b.T, b.V, b.temperature);
    return { logp, H };
  }
  return { logp: b.logp!, H: b.H! };
}

function wireBatch(b: Batch, extra: TorchJob["extra"]): unknown {
  const { logp, H } = policyOf(b);
  return {
    B: b.B, T: b.T, S: b.S, nGroups: b.nGroups, group: Array.from(b.group), stepIdx: Array.from(b.stepIdx),
    logp: enc(logp), H: enc(H), oldLogp: enc(b.oldLogp), refLogp: b.refLogp ? enc(b.refLogp) : null, rolloutLogp: b.rolloutLogp ? enc(b.rolloutLogp) : null,
    C: enc(b.C), stepLength: enc(b.stepLength), stepEntropy: enc(b.stepEntropy),
    stepReward: b.stepReward ? enc(b.stepReward) : null, mcValue: b.mcValue ? enc(b.mcValue) : null, mcNext: b.mcNext ? enc(b.mcNext) : null, judgeScore: b.judgeScore ? enc(b.judgeScore) : null,
    reward: enc(b.reward), correct: enc(b.correct), format: enc(b.format), length: enc(b.length),
    steps: b.steps, totalSteps: b.totalSteps, seed: b.seed,
    extra: Object.fromEntries(Object.entries(extra ?? {}).map(([k, v]) => [k, { shape: v.shape, data: enc(v.data) }])),
  };
}

/** Run the jobs in one Python process (importing torch once). */
export function runTorchJobs(pkg: string, jobs: TorchJob[]): TorchResult[] {
  ensureTorch();
  const spec = {
    package: pkg,
    jobs: jobs.map((j) => ({ module: j.module, fn: j.fn, params: j.params, dtype: j.dtype ?? "float64", batch: wireBatch(j.batch, j.extra) })),
  };
  const file = join(pkg, "..", "jobs.json");
  writeFileSync(file, JSON.stringify(spec));
  const out = runTorchScript<{ results: { outputs: Record<string, Wire[]>; grad?: { logp: Wire[]; H: Wire[] } }[] }>(RUNNER, [file]);
  return out.results.map((r) => ({
    outputs: Object.fromEntries(Object.entries(r.outputs).map(([k, v]) => [k, dec(v)])),
    grad: r.grad ? { logp: dec(r.grad.logp), H: dec(r.grad.H) } : undefined,
  }));
}
