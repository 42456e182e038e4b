// `model "DIR" { precision f16 }` through the training loop: ACPO (frozen initial policy as
// the KL reference and attribution judge) runs two steps and a resume on f16 weights, the
// run records the setting, and checkpoints hold the f32 masters.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { printPipeline } from "../../compiler/print.js";
import { loadCheckpoint } from "../../runtime/engine/model/checkpoint.js";
import { train } from "../../runtime/loop/rl/trainer.js";
import { testGpu } from "../helpers/gpu.js";
import { tinyCharPolicyDir } from "../helpers/models.js";

const jsonl = (path: string) => readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);

/** examples/acpo.acpo on a tiny model under f16, small rollouts, stages of one step each. */
function f16Pipeline(model: string): string {
  const r = loadPipeline(resolve("examples", "acpo.acpo"));
  const text = printPipeline(r.pipeline!)
    .replace(/model "[^"]*"/, `model "${model}" { precision f16 }`)
    .replace(/task countdown \{[^}]*\}/, "task countdown { numbers 3..3  values 1..9  target 1..30 }")
    .replace(/rollout \{[^}]*\}/, "rollout { prompts 2  group 4  temperature 1.0  top_p 1.0  max_tokens 24 }")
    .replace(/until steps >= \d+/g, "until steps >= 1")
    .replace(/eval \{[^}]*\}/g, "eval { every 100  split test  problems 2  samples 2  temperature 1.0  max_tokens 24  metrics [acc@2, pass@2] }");
  const file = join(mkdtempSync(join(tmpdir(), "acpo-f16-")), "acpo_f16.acpo");
  writeFileSync(file, text);
  return file;
}

describe("training under precision f16", () => {
  it("runs ACPO across its stage switch, records the setting, saves f32 masters and resumes", async () => {
    const gpu = await testGpu();
    const model = tinyCharPolicyDir(4, 8);
    const file = f16Pipeline(model);
    const out = join(mkdtempSync(join(tmpdir(), "acpo-run-f16-")), "run");
    const r = await train({ pipelinePath: file, steps: 2, outDir: out, quiet: true, gpu, checkpointEvery: 1 });
    expect(r.steps).toBe(2);
    const metrics = jsonl(join(out, "metrics.jsonl"));
    expect(metrics.map((m) => m.step)).toEqual([1, 2]);
    for (const m of metrics) if (m.grad_norm !== null) expect(Number.isFinite(m.grad_norm as number)).toBe(true);
    // The policy really ran at f16: the same run at f32 measures slightly different entropies.
    const f32 = join(mkdtempSync(join(tmpdir(), "acpo-run-f32-")), "run");
    writeFileSync(file.replace(".acpo", "_32.acpo"), readFileSync(file, "utf8").replace(" { precision f16 }", ""));
    await train({ pipelinePath: file.replace(".acpo", "_32.acpo"), steps: 1, outDir: f32, quiet: true, gpu });
    const e16 = metrics[0]!.entropy_mean as number, e32 = jsonl(join(f32, "metrics.jsonl"))[0]!.entropy_mean as number;
    expect(e16).not.toBe(e32);
    expect(Math.abs(e16 - e32)).toBeLessThan(5e-2);
    const config = JSON.parse(readFileSync(join(out, "config.resolved.json"), "utf8")) as { pipeline: { model: { precision?: string } } };
    expect(config.pipeline.model.precision).toBe("f16");
    // Checkpoints hold the f32 masters (off the f16 grid), not the rounded copies.
    const w = loadCheckpoint(join(out, "checkpoint-2")).weights.get("model.layers.0.self_attn.q_proj.weight")!.data;
    expect(w.some((v) => !isHalf(v))).toBe(true);
    // As if killed during step 2: resuming from checkpoint 1 (policy, frozen references and
    // moments reloaded at f16) repeats step 2 exactly.
    const strip = (m: Record<string, unknown>) => Object.fromEntries(Object.entries(m).filter(([k]) => !k.startsWith("time_") && k !== "tokens_per_s"));
    rmSync(join(out, "checkpoint-2"), { recursive: true });
    const again = await train({ resume: out, quiet: true, gpu });
    expect(again.steps).toBe(2);
    expect(jsonl(join(out, "metrics.jsonl")).map(strip)).toEqual(metrics.map(strip));
  }, 600_000);
});

/** Whether `v` is exactly an f16 value (within f16's normal range: 11 significant bits). */
function isHalf(v: number): boolean {
  if (v === 0) return true;
  const e = Math.floor(Math.log2(Math.abs(v)));
  return Number.isInteger(v * 2 ** (10 - e));
}
