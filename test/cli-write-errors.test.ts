// Commands that write (report -o, compile -o, sft -o) when the write fails: a folder where the
// file must go, a full disk (/dev/full answers every write with ENOSPC), a read-only place
// (sysfs refuses new entries to everyone, root included), a path under a file. Each is one
// line naming the path that failed, the reason in words and the fix; exit 1; no stack trace.
// /proc paths used to hang `compile -o` for ever (Node's recursive mkdir loops on them).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const acpo = (...args: string[]) => spawnSync(process.execPath, ["cli/acpo.js", ...args], { encoding: "utf8", timeout: 120_000 });

let root: string;
let aFile: string;
let run: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "acpo-write-errors-"));
  aFile = join(root, "a-file");
  writeFileSync(aFile, "x");
  run = join(root, "run");
  mkdirSync(run);
  writeFileSync(join(run, "metrics.jsonl"), `${JSON.stringify({ step: 1, stage: "s", reward_mean: 0.5 })}\n`);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const PERM = "choose a folder you can write to, or change its permissions";

/** Runs the command and checks the one-line error: `acpo: error: <message>\n`, exit 1. */
function expectWriteError(args: string[], message: string): void {
  const r = acpo(...args);
  expect(r.status, `${args.join(" ")}\n${r.stderr}`).toBe(1);
  expect(r.stderr).toBe(`acpo: error: ${message}\n`);
}

describe("acpo report -o", () => {
  const after = "or write it elsewhere with -o FILE";
  it.each([
    ["a directory", () => root, () => `${root}: cannot write the report: a folder is in the way where a file must go (EISDIR); choose another path, or move that folder away; ${after}`],
    ["a full disk", () => "/dev/full", () => `/dev/full: cannot write the report: no space left on the device (ENOSPC); free some space; ${after}`],
    ["a read-only place", () => "/sys/acpo-report.html", () => `/sys/acpo-report.html: cannot write the report: permission denied (EACCES); ${PERM}; ${after}`],
    ["a path under a file", () => join(aFile, "r.html"), () => `${join(aFile, "r.html")}: cannot write the report: a part of the path is a file, not a folder (ENOTDIR); choose another path, or move that file away; ${after}`],
    ["a missing folder", () => join(root, "nope", "r.html"), () => `${join(root, "nope", "r.html")}: cannot write the report: a folder on the path does not exist (ENOENT); create it first, or choose another path; ${after}`],
  ] as [string, () => string, () => string][])("%s", (_what, out, message) => {
    expectWriteError(["report", run, "-o", out()], message());
  });

  it("writes the report where it can (the runs above were fine)", () => {
    const r = acpo("report", run, "-o", join(root, "ok.html"));
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(root, "ok.html"), "utf8")).toMatch(/^<!doctype html>/);
  });
});

describe("acpo compile -o", () => {
  const pipeline = "examples/grpo.acpo";
  const after = "or write it elsewhere with -o DIR";
  it.each([
    ["a device where the folder must go", () => "/dev/full", () => `/dev/full: cannot write the plan: something is already there (EEXIST); choose another path, or move it away; ${after}`],
    ["a file where the folder must go", () => aFile, () => `${aFile}: cannot write the plan: something is already there (EEXIST); choose another path, or move it away; ${after}`],
    ["a read-only place", () => "/sys/acpo-plan", () => `/sys/acpo-plan: cannot write the plan: operation not permitted (EPERM); ${PERM}; ${after}`],
    ["a path under a file", () => join(aFile, "plan"), () => `${aFile}: cannot write the plan: a part of the path is a file, not a folder (ENOTDIR); choose another path, or move that file away; ${after}`],
  ] as [string, () => string, () => string][])("%s", (_what, out, message) => {
    expectWriteError(["compile", pipeline, "-o", out()], message());
  });

  it("a path under /proc fails at once instead of hanging", () => {
    const r = acpo("compile", pipeline, "-o", "/proc/acpo-plan/x");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^acpo: error: \/proc\/acpo-plan: cannot write the plan: .*; or write it elsewhere with -o DIR\n$/);
  });

  it("a full disk part-way names the file, and leaves no plan.json describing other kernels", () => {
    const dir = join(root, "plan");
    const ok = acpo("compile", pipeline, "-o", dir);
    expect(ok.status, ok.stderr).toBe(0);
    expect(existsSync(join(dir, "plan.json"))).toBe(true);
    // The disk "fills" when the resolved pipeline is written, after the kernels.
    rmSync(join(dir, "pipeline.acpo"));
    symlinkSync("/dev/full", join(dir, "pipeline.acpo"));
    expectWriteError(["compile", pipeline, "-o", dir], `${join(dir, "pipeline.acpo")}: cannot write the plan: no space left on the device (ENOSPC); free some space; ${after}`);
    expect(existsSync(join(dir, "plan.json"))).toBe(false);
    const run = acpo("run", dir);
    expect(run.stderr).toContain(`${join(dir, "plan.json")}: no plan here`);
  });
});

describe("acpo sft -o", () => {
  // The output folder is checked before the model is loaded or a step is trained.
  const sft = (out: string) => ["sft", "--task", "countdown", "--model", join(root, "no-model"), "-o", out];
  const after = "or give another folder with -o";
  it.each([
    ["a device where the folder must go", () => "/dev/full", () => `/dev/full: cannot write the trained policy: something is already there (EEXIST); choose another path, or move it away; ${after}`],
    ["a read-only place", () => "/sys/acpo-sft", () => `/sys/acpo-sft: cannot write the trained policy: operation not permitted (EPERM); ${PERM}; ${after}`],
    ["a path under a file", () => join(aFile, "policy"), () => `${aFile}: cannot write the trained policy: a part of the path is a file, not a folder (ENOTDIR); choose another path, or move that file away; ${after}`],
  ] as [string, () => string, () => string][])("%s", (_what, out, message) => {
    expectWriteError(sft(out()), message());
  });

  it("a writable folder passes the check and the command goes on (here: to the missing model)", () => {
    const r = acpo(...sft(join(root, "policy")));
    expect(r.status).toBe(1);
    // (The GPU starts before the model is read; Dawn may print warnings first.)
    expect(r.stderr.endsWith(`acpo: error: ${join(root, "no-model")}: not a model folder (no config.json)\n`), r.stderr).toBe(true);
    expect(existsSync(join(root, "policy"))).toBe(true); // created, and the probe file removed
    expect(spawnSync("ls", ["-A", join(root, "policy")], { encoding: "utf8" }).stdout).toBe("");
  });
});

describe("init-model under /proc", () => {
  // saveCheckpoint used Node's recursive mkdir, which never returns for /proc paths.
  it("fails at once, naming the folder, instead of hanging", () => {
    const r = acpo("init-model", "/proc/acpo-model/x", "--preset", "tiny");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^acpo: error: \/proc\/acpo-model\/x: cannot write the model folder: .*\n$/);
  });
});
