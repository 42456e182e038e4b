// `acpo check` as a user runs it: exit codes and positioned diagnostics, never a stack.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "acpo-cli-"));

function acpo(...args: string[]) {
  const r = spawnSync(process.execPath, ["cli/acpo.js", "check", ...args], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("acpo check", () => {
  it("exits 0 on every example", () => {
    const r = acpo("examples/acpo.acpo", "examples/grpo.acpo", "examples/dapo.acpo", "examples/dr_grpo.acpo", "examples/gspo.acpo", "examples/entropy_top20.acpo", "examples/clip_cov.acpo", "examples/acpo_no_kl.acpo", "examples/acpo_newline.acpo");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/examples\/acpo\.acpo: ok/);
  });

  it("exits 1 with file:line:col, the source line, a caret and a hint", () => {
    const file = join(dir, "bad.acpo");
    writeFileSync(file, 'pipeline bad {\n  model "m"\n  rollout { prompts 16  group 8  temprature 1.0  max_tokens 9 }\n}\n');
    const r = acpo(file);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${file}:3:34: error[E0203]: unknown setting \`temprature\` in rollout`);
    expect(r.err).toContain("3 |   rollout { prompts 16  group 8  temprature 1.0  max_tokens 9 }");
    expect(r.err).toContain(` | ${" ".repeat(33)}^^^^^^^^^^\n`);
    expect(r.err).toContain("= did you mean `temperature`?");
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  });

  it("refuses /dev/zero and a FIFO at once, exit 1, reading nothing", () => {
    const fifo = join(dir, "pipe.acpo");
    spawnSync("mkfifo", [fifo]);
    const r = acpo("/dev/zero", fifo);
    expect(r.code).toBe(1);
    expect(r.err).toContain("/dev/zero: error[E0001]: /dev/zero is a character device, not a regular file; pipeline files are plain text files");
    expect(r.err).toContain(`${fifo}: error[E0001]: ${fifo} is a FIFO (named pipe), not a regular file`);
  });

  it("prints a warning and exits 0 when a stage's until can never hold", () => {
    const file = join(dir, "forever.acpo");
    writeFileSync(file, `pipeline forever extends "${join(process.cwd(), "examples/grpo.acpo")}" {\n  stage train until steps < 1 { }\n}\n`);
    const r = acpo(file);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${file}: ok (pipeline forever, 1 stage, 1 warning)\n`);
    expect(r.err).toContain(`${file}:2:21: warning[W0501]: stage \`train\` never ends: its \`until\` can never hold`);
  });

  it("applies --set and reports a bad one with its position", () => {
    expect(acpo("examples/acpo.acpo", "--set", "alpha=0.1").code).toBe(0);
    const r = acpo("examples/acpo.acpo", "--set", "alpha=99");
    expect(r.code).toBe(1);
    expect(r.err).toContain("--set[1]:1:7: error[E0401]");
  });

  it("gives one clear message for missing, empty, binary, invalid UTF-8 and 10 MB files", () => {
    const cases: [string, string | Uint8Array, RegExp][] = [
      ["empty.acpo", "", /error\[E0004\]: .* is empty/],
      ["binary.acpo", Uint8Array.from({ length: 256 }, (_, i) => i), /error\[E0002\]|error\[E0003\]/],
      ["latin1.acpo", Uint8Array.from([0x70, 0x69, 0x70, 0xe9, 0x0a]), /error\[E0002\]: .* not valid UTF-8/],
      ["huge.acpo", "pipeline x { }\n".repeat(700_000), /error\[E0005\]: .* limited to/],
    ];
    for (const [name, content, pattern] of cases) {
      const f = join(dir, name);
      writeFileSync(f, content);
      const r = acpo(f);
      expect(r.code, name).toBe(1);
      expect(r.err, name).toMatch(pattern);
      expect(r.err, name).not.toMatch(/\n\s+at /);
    }
    const missing = acpo(join(dir, "nope.acpo"));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/error\[E0001\]: cannot read .*nope\.acpo: no such file/);
  });

  it("exits 1 when any of several files fails, and still checks the others", () => {
    const r = acpo("examples/grpo.acpo", join(dir, "nope.acpo"));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/grpo\.acpo: ok/);
  });
});

describe("warnings outside acpo check", () => {
  // A stage that never ends trains forever: every command that loads the file says so.
  it("compile prints W0501 for an until that can never hold, and still writes the plan", () => {
    const file = join(dir, "forever.acpo");
    writeFileSync(file, 'pipeline forever extends "' + join(process.cwd(), "examples/grpo.acpo") + '" {\n  stage train until steps < 1 { }\n}\n');
    const r = spawnSync(process.execPath, ["cli/acpo.js", "compile", file, "-o", join(dir, "forever-plan")], { encoding: "utf8" });
    expect(r.stderr).toContain("warning[W0501]: stage `train` never ends");
    expect(r.status).toBe(0);
  });
});
