// The report's credit view (runtime/loop/report/credit.ts): a run's recorded responses scored by
// the interpreter under the run's own pipeline and another, checked against the methods'
// formulas written out by hand (test/report/credit-run.ts); the refusals when the samples
// lack what the other pipeline's credit needs; and `acpo report --credit-vs` end to end.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { CreditError, type CreditPipeline, creditView, runDirPipeline, stageFor } from "../../runtime/loop/report/credit.js";
import { writeReportTryCredit } from "../../runtime/loop/report/html.js";
import { loadRun } from "../../runtime/loop/report/load.js";
import { EXAMPLE_ALPHA, HAND_LINES, creditOf, grpoCreditOf, writeCreditRun, writeVariant } from "./credit-run.js";

let root: string;
let run: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "acpo-credit-"));
  run = writeCreditRun(root);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function pipelineOf(file: string): CreditPipeline {
  const r = loadPipeline(file);
  if (!r.pipeline) throw new Error(`${file} does not check`);
  return { pipeline: r.pipeline, source: file };
}

const close = (got: readonly (number | null)[], want: readonly number[]) => {
  expect(got.length).toBe(want.length);
  got.forEach((g, k) => expect(g, `entry ${k}`).toBeCloseTo(want[k]!, 12));
};

describe("credit view", () => {
  it("scores every response under both pipelines by their formulas, on the same tokens", async () => {
    const v = await creditView(loadRun(run), pipelineOf(writeVariant(root, "acpo_a5", "acpo.acpo", "param alpha = 5")));
    expect(v.pipelines).toEqual(["acpo", "acpo_a5"]);
    expect(v.samples.map((s) => `${s.step}/${s.group}`)).toEqual(HAND_LINES.map((l) => `${l.step}/${l.group}`));
    v.samples.forEach((s, i) => {
      const [a, b] = s.credit;
      expect([a.stage, b.stage]).toEqual(["explore", "explore"]);
      close(a.steps, creditOf(i, EXAMPLE_ALPHA));
      close(b.steps, creditOf(i, 5));
      // Explore's token weight is 1: each token carries its step's advantage.
      s.stepStarts.forEach((start, k) => {
        const end = k + 1 < s.stepStarts.length ? s.stepStarts[k + 1]! : s.tokens.length;
        for (let t = start; t < end; t++) expect(b.tokens[t]).toBeCloseTo(creditOf(i, 5)[k]!, 12);
      });
      expect(a.tokens.length).toBe(s.tokens.length);
    });
    // alpha 5 turns the sign of the first step of the correct response and the second of the wrong one.
    const flips = v.samples.map((s) => s.credit[0].steps.map((x, k) => x! * s.credit[1].steps[k]! < 0));
    expect(flips[0]).toEqual([true, false, false]);
    expect(flips[1]).toEqual([false, true, false]);
    expect(flips.slice(2).flat().every((f) => !f)).toBe(true);
    // The colour scale: 95th percentile of |credit| over both sides' tokens.
    const all = v.samples.flatMap((s) => s.credit.flatMap((c) => c.tokens.map((x) => Math.abs(x!)))).sort((x, y) => x - y);
    expect(v.scale).toBe(all[Math.floor(0.95 * all.length)]);
  });

  it("scores under a pipeline with a reference the run did not record when its credit does not read it (GRPO)", async () => {
    const v = await creditView(loadRun(run), pipelineOf(resolve("examples/grpo.acpo")));
    v.samples.forEach((s, i) => {
      expect(s.credit[1].stage).toBe("train");
      for (const x of s.credit[1].tokens) expect(x).toBeCloseTo(grpoCreditOf(i), 12);
    });
  });

  it("refuses a pipeline whose credit reads the reference the samples lack (REINFORCE++)", async () => {
    await expect(creditView(loadRun(run), pipelineOf(resolve("examples/reinforce_pp.acpo")))).rejects.toThrow(
      new CreditError(`pipeline reinforce_pp (${resolve("examples/reinforce_pp.acpo")}), stage train: its credit depends on the reference policy's log-probs (ref_logp), which ${join(run, "samples.jsonl")} does not record (the run had no reference policy); compare with a pipeline whose advantage and token weight do not read ref_logp`),
    );
  });

  it("names the line and field when the samples lack an input a pipeline reads", async () => {
    const bare = writeCreditRun(join(root, "no-c"), HAND_LINES.slice(0, 2), () => ({ C: undefined }));
    await expect(creditView(loadRun(bare), pipelineOf(resolve("examples/grpo.acpo")))).rejects.toThrow(
      `pipeline acpo (${join(bare, "config.resolved.json")}), stage explore: cannot score the run's samples: ${join(bare, "samples.jsonl")}: the pipeline uses the attribution score C; every trajectory needs 'C' (one per step)`,
    );
  });

  it("takes a run directory's stored pipeline as the other side", async () => {
    const other = runDirPipeline(run);
    expect(other.source).toBe(join(run, "config.resolved.json"));
    const v = await creditView(loadRun(run), other);
    v.samples.forEach((s, i) => close(s.credit[1].steps, creditOf(i, EXAMPLE_ALPHA)));
    expect(() => runDirPipeline(root)).toThrow(new CreditError(`${root}: not a run directory (no config.resolved.json); give a pipeline file (.acpo) or a run directory`));
  });

  it("compare --credit's report: a view that cannot be built is left out with the reason, the report still written", async () => {
    const out = join(root, "try.html");
    const { data, warning } = await writeReportTryCredit([run], out, pipelineOf(resolve("examples/reinforce_pp.acpo")));
    expect(data.credit).toBeNull();
    expect(warning).toMatch(/^no credit view: pipeline reinforce_pp \(.*\), stage train: its credit depends on the reference policy's log-probs \(ref_logp\)/);
    expect(readFileSync(out, "utf8")).toContain('"credit":null');
    const ok = await writeReportTryCredit([run], out, pipelineOf(resolve("examples/grpo.acpo")));
    expect([ok.warning, ok.data.credit?.pipelines]).toEqual([null, ["acpo", "grpo"]]);
  });

  it("picks the stage of the same name, else the one running at the step", () => {
    const acpo = pipelineOf(resolve("examples/acpo.acpo")).pipeline;
    // examples/acpo.acpo: explore for 167 steps, then converge for 33.
    expect([stageFor(acpo, "converge", 200).stage.name, stageFor(acpo, "converge", 200).steps]).toEqual(["converge", 33]);
    expect([stageFor(acpo, "train", 177).stage.name, stageFor(acpo, "train", 177).steps]).toEqual(["converge", 10]);
    expect([stageFor(acpo, "train", 167).stage.name, stageFor(acpo, "train", 167).steps]).toEqual(["explore", 167]);
    expect(stageFor(acpo, null, null).stage.name).toBe("explore");
  });
});

function acpo(args: string[]): { status: number; stdout: string; stderr: string } {
  try {
    return { status: 0, stdout: execFileSync("node", ["cli/acpo.js", ...args], { encoding: "utf8", stdio: "pipe" }), stderr: "" };
  } catch (e) {
    const x = e as { status: number; stdout: string; stderr: string };
    return { status: x.status, stdout: x.stdout, stderr: x.stderr };
  }
}

// Two runs of the command (each starts node and the compiler): one report, one refusal.
describe("acpo report --credit-vs", () => {
  it("writes the report with the credit view and says what it scored", () => {
    const out = join(root, "credit.html");
    const r = acpo(["report", run, "--credit-vs", resolve("examples/grpo.acpo"), "-o", out]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`report: 1 run, 1 charts, 6 sampled responses, credit of 6 responses under acpo and grpo -> ${out}\n`);
    expect(readFileSync(out, "utf8")).toContain('"pipelines":["acpo","grpo"]');
  });

  it("stops with one line and writes nothing when the credit cannot be computed", () => {
    const out = join(root, "refused.html");
    const r = acpo(["report", run, "--credit-vs", resolve("examples/reinforce_pp.acpo"), "-o", out]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^acpo: error: pipeline reinforce_pp \(.*reinforce_pp\.acpo\), stage train: its credit depends on the reference policy's log-probs \(ref_logp\), .*; no report written$/);
    expect(existsSync(out)).toBe(false);
  });
});
