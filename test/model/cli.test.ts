// The model commands as a user runs them: init-model, logprobs and sample print what their
// help says, and bad input is one line on stderr with exit 1.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseIntOption, parsePositiveIntOption, parseSeedOption } from "../../cli/options.js";

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

  it("takes seeds and counts only as plain integers in range", () => {
    // Seeds are 32-bit integers, taken as written: no rounding of 1e30, no wrapping of 2^32 or -1.
    for (const seed of ["1e30", "4294967296", "-1", "0x10", "1.5", "", " 7", "9007199254740993"]) {
      expect(() => parseSeedOption(seed), seed).toThrow(`expected an integer in [0, 4294967295], got '${seed}'`);
    }
    expect([parseSeedOption("0"), parseSeedOption("4294967295"), parseSeedOption("007")]).toEqual([0, 4294967295, 7]);
    for (const n of ["0", "-1", "1e3", "2.0"]) expect(() => parsePositiveIntOption(n), n).toThrow(`expected an integer >= 1, got '${n}'`);
    expect(parsePositiveIntOption("25")).toBe(25);
    expect(() => parseIntOption("1e30")).toThrow("expected an integer, got '1e30'");
    expect(parseIntOption("-3")).toBe(-3);
    const r = acpo("init-model", join(dir, "..", "seeded"), "--seed", "1e30");
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("error: option '--seed <n>' argument '1e30' is invalid. expected an integer in [0, 4294967295], got '1e30'\n");
  });

  it("init-model replaces an existing model folder only with --force", () => {
    const m = join(mkdtempSync(join(tmpdir(), "acpo-cli-")), "m");
    expect(acpo("init-model", m, "--seed", "1").status).toBe(0);
    const before = readFileSync(join(m, "model.safetensors"));
    const r = acpo("init-model", m, "--seed", "2");
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`acpo: error: ${m}: already holds a model folder (config.json, model.safetensors, tokenizer.json); pass --force to replace it, or choose another folder\n`);
    expect(readFileSync(join(m, "model.safetensors")).equals(before)).toBe(true);
    const forced = acpo("init-model", m, "--seed", "2", "--force");
    expect(forced.status, forced.stderr).toBe(0);
    expect(readFileSync(join(m, "model.safetensors")).equals(before)).toBe(false);
    // An existing folder without model files is simply used.
    const empty = join(mkdtempSync(join(tmpdir(), "acpo-cli-")), "empty");
    mkdirSync(empty);
    expect(acpo("init-model", empty).status).toBe(0);
  });

  it("init-model names the path and the fix when it cannot write, without a stack trace", () => {
    const base = mkdtempSync(join(tmpdir(), "acpo-cli-"));
    writeFileSync(join(base, "file"), "x");
    mkdirSync(join(base, "m", "config.json"), { recursive: true }); // a folder where a file must go
    const cases: [string, string][] = [
      [join(base, "file", "m"), "cannot write the model folder: a part of the path is a file, not a folder (ENOTDIR); choose another path, or move that file away"],
      [join(base, "m"), "cannot write the model folder: a folder is in the way where a file must go (EISDIR); choose another path, or move that folder away"],
      // sysfs refuses new entries to everyone (root included): a stand-in for a read-only folder.
      ["/sys/acpo-model", "cannot write the model folder: "],
    ];
    for (const [path, msg] of cases) {
      const r = acpo("init-model", path, "--force");
      expect(r.status, path).toBe(1);
      expect(r.stderr).toContain(`acpo: error: ${path}: ${msg}`);
      expect(r.stderr).toMatch(/choose|free/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
