// The Python twins of an exported verl package (segmentation, attribution batches, the task
// verifiers; export/verl/python/) against the TypeScript implementations, on the golden
// vectors scripts/golden-export.ts writes: the fixtures must be current (regenerated here in
// memory from the TypeScript), and the twins, run with the system python3, must return
// exactly what the TypeScript did (floats to 1e-12).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { fixtureText, GOLDEN_DIR, goldenFixtures } from "../../scripts/golden-export.js";
import { runTorchScript } from "../helpers/torch.js";

const RUNNER = fileURLToPath(new URL("./golden_runner.py", import.meta.url));
const TWINS = fileURLToPath(new URL("../../export/verl/python/", import.meta.url));

type Fixture = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const read = (f: string): Fixture => JSON.parse(readFileSync(join(GOLDEN_DIR, f), "utf8")) as Fixture;

/** Exact agreement, numbers within 1e-12 (relative above 1), reported at the first difference. */
function expectAgree(got: unknown, want: unknown, where: string): void {
  if (typeof want === "number" && typeof got === "number") {
    const ok = got === want || Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want));
    expect(ok, `${where}: ${got} vs ${want}`).toBe(true);
    return;
  }
  if (Array.isArray(want)) {
    expect(Array.isArray(got) && got.length === want.length, `${where}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`).toBe(true);
    want.forEach((w, i) => expectAgree((got as unknown[])[i], w, `${where}[${i}]`));
    return;
  }
  if (want !== null && typeof want === "object") {
    expect(got !== null && typeof got === "object", `${where}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`).toBe(true);
    expect(Object.keys(got as object).sort(), where).toEqual(Object.keys(want).sort());
    for (const [k, w] of Object.entries(want)) expectAgree((got as Record<string, unknown>)[k], w, `${where}.${k}`);
    return;
  }
  expect(got, where).toBe(want);
}

describe("golden vectors: Python twins = TypeScript", () => {
  let py: Fixture;
  const fx = { segment: read("segment.json"), verifiers: read("verifiers.json"), attribution: read("attribution.json"), math: read("math.json") };

  beforeAll(() => {
    py = runTorchScript<Fixture>(RUNNER, [TWINS, GOLDEN_DIR]);
  });

  it("the fixtures are current: the TypeScript regenerates them byte for byte", async () => {
    const now = await goldenFixtures();
    for (const [file, v] of Object.entries(now)) {
      expect(readFileSync(join(GOLDEN_DIR, file), "utf8") === fixtureText(v), `${file} is stale: run npx tsx scripts/golden-export.ts`).toBe(true);
    }
  });

  it("the vectors cover what they claim: boundaries, answers, errors, right and wrong verdicts", () => {
    const seg = fx.segment.cases as { expect: { value?: { boundaries: number[]; answer: unknown }; error?: string } }[];
    expect(seg.length).toBeGreaterThanOrEqual(400);
    expect(seg.filter((c) => (c.expect.value?.boundaries.length ?? 0) > 3).length).toBeGreaterThan(50);
    expect(seg.filter((c) => c.expect.value?.answer).length).toBeGreaterThan(50);
    expect(seg.filter((c) => c.expect.error).map((c) => c.expect.error)).toEqual([
      "segment: minGap must be an integer >= 1, got 0",
      "segment: top fraction must be in [0, 1], got 1.5",
      "segment: 2 tokens but 1 entropies",
      "segment: empty marker",
      "segment: length must be an integer >= 1, got 2.5",
    ]);
    const cd = fx.verifiers.countdown as { expect: { correct: boolean; reason: string } }[];
    expect(cd.filter((c) => c.expect.correct).length).toBeGreaterThan(20);
    expect([...new Set(cd.map((c) => c.expect.reason.split(" ")[0]))].sort()).toEqual(["correct", "division", "empty", "equals", "no", "not", "uses"]);
    expect(fx.verifiers.numeric.filter((c: Fixture) => c.expect.correct).length).toBeGreaterThan(20);
    const C = (fx.attribution.cases as { expect: { C: number[][] } }[]).flatMap((c) => c.expect.C.flat());
    expect(C.filter((v) => v !== 0).length).toBeGreaterThan(50);
  });

  it("segmentation: the same boundaries, answer span, reasoning steps and errors", () => {
    fx.segment.cases.forEach((c: Fixture, i: number) => expectAgree(py.segment.cases[i], c.expect, `segment ${c.name}`));
    fx.segment.thresholds.forEach((c: Fixture, i: number) => expectAgree(py.segment.thresholds[i], c.expect, `entropyThreshold ${i}`));
  });

  it("answer extraction and verifiers: the same spans, numbers, rewards and reasons", () => {
    for (const k of ["extract", "decimals", "countdown", "numeric", "exact"]) {
      fx.verifiers[k].forEach((c: Fixture, i: number) => expectAgree(py.verifiers[k][i], c.expect, `${k} ${i} ${JSON.stringify(c.response ?? c.text)}`));
    }
  });

  it("the math vectors hold right and wrong verdicts from every extraction path, and equal and unequal pairs", () => {
    const cases = fx.math.cases as { expect: { correct: boolean; reason: string } }[];
    expect(cases.filter((c) => c.expect.correct).length).toBeGreaterThan(300);
    expect(cases.filter((c) => !c.expect.correct).length).toBeGreaterThan(300);
    for (const how of ["(answer tag)", "(boxed)", "(answer is)"]) expect(cases.some((c) => c.expect.reason.includes(how)), how).toBe(true);
    expect(cases.some((c) => c.expect.reason.startsWith("no final answer"))).toBe(true);
    const pairs = fx.math.pairs as { expect: boolean }[];
    expect(pairs.filter((c) => c.expect).length).toBeGreaterThan(15);
    expect(pairs.filter((c) => !c.expect).length).toBeGreaterThan(500);
  });

  it("math verifier: the same verdicts, answers and reasons; mathEqual the same except on the documented differences", () => {
    fx.math.cases.forEach((c: Fixture, i: number) => expectAgree(py.math.cases[i], c.expect, `math ${i} ${JSON.stringify(c.expected)} / ${JSON.stringify(c.response)}`));
    fx.math.pairs.forEach((c: Fixture, i: number) => expect(py.math.pairs[i], `mathEqual(${JSON.stringify(c.a)}, ${JSON.stringify(c.b)})`).toBe(c.expect));
    // Each documented difference is still one (spec/export.md lists them): the twin gives the other verdict.
    expect(fx.math.differences.map((c: Fixture) => `${c.a} / ${c.b}`)).toEqual(["(-8)^{1/3} / -2", "-2 / (-8)^{1/3}"]);
    fx.math.differences.forEach((c: Fixture, i: number) => expect(py.math.differences[i], `difference ${JSON.stringify(c.a)} / ${JSON.stringify(c.b)}: ${c.why}`).toBe(!c.ts));
  });

  it("attribution: the same scoring sequences, in order, and C per reasoning step", () => {
    fx.attribution.cases.forEach((c: Fixture, i: number) => expectAgree(py.attribution.cases[i], c.expect, `attribution ${i}`));
    fx.attribution.errors.forEach((c: Fixture, i: number) => expectAgree(py.attribution.errors[i], c.expect, `attribution error ${c.name}`));
  });
});
