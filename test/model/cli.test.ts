// The model commands as a user runs them: init-model, logprobs and sample print what their
// help says, and bad input is one line on stderr with exit 1.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const acpo = (...args: string[]) => spawnSync(process.execPath, ["cli/acpo.js", ...args], { encoding: "utf8", timeout: 120_000 });

describe("model commands", () => {
  const dir = join(mkdtempSync(join(tmpdir(), "acpo-cli-")), "m");

  it("init-model writes a loadable folder; logprobs and sample use it", () => {
    const init = acpo("init-model", dir, "--preset", "tiny", "--seed", "3");
    expect(init.status, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/LlamaForCausalLM, preset tiny, 99,392 parameters, vocabulary 108, seed 3/);
    const lp = acpo("logprobs", "--model", dir, "--ids", "1,40,41,42");
    expect(lp.status, lp.stderr).toBe(0);
    const out = JSON.parse(lp.stdout) as { logprobs: number[]; entropies: number[] };
    expect(out.logprobs).toHaveLength(3);
    expect(out.entropies).toHaveLength(3);
    for (const x of out.logprobs) expect(x).toBeLessThan(0);
    // A freshly initialised model is close to uniform over its 108 tokens.
    for (const h of out.entropies) expect(Math.abs(h - Math.log(108))).toBeLessThan(0.05);
    const s = acpo("sample", "--model", dir, "--prompt", "First, ", "-n", "3", "--max-tokens", "5", "--seed", "1");
    expect(s.status, s.stderr).toBe(0);
    const lines = s.stdout.trim().split("\n").map((l) => JSON.parse(l) as { tokens: number });
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l.tokens).toBeLessThanOrEqual(5);
    expect(acpo("sample", "--model", dir, "--prompt", "First, ", "-n", "3", "--max-tokens", "5", "--seed", "1").stdout).toBe(s.stdout);
  });

  it("reports bad input in one line with exit 1", () => {
    const cases: [string[], RegExp][] = [
      [["logprobs", "--model", dir, "--ids", "1,x"], /--ids: 'x' \(item 2\) is not a non-negative integer/],
      [["logprobs", "--model", dir, "--ids", "1,9999"], /below the vocabulary size 108/],
      [["logprobs", "--model", join(dir, "nope"), "--ids", "1,2"], /not a model folder \(no config\.json\)/],
      [["init-model", dir, "--preset", "huge"], /unknown preset 'huge'/],
      [["sample", "--model", dir, "--prompt", "x", "--top-p", "2"], /--top-p must be in \(0, 1\]/],
    ];
    for (const [args, msg] of cases) {
      const r = acpo(...args);
      expect(r.status, args.join(" ")).toBe(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
    const bad = join(dir, "..", "broken");
    acpo("init-model", bad, "--preset", "tiny");
    writeFileSync(join(bad, "model.safetensors"), "truncated");
    const r = acpo("logprobs", "--model", bad, "--ids", "1,2");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/model\.safetensors: truncated or not a safetensors file/);
  });
});
