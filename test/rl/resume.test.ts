// Resuming and guarding run directories (no GPU): the lock against a second writer, records
// lost before the checkpoint reported, checksummed checkpoints (a same-size NaN file is
// refused, rotation keeps the last verified one), runs without a checkpoint started over,
// write errors that name the path and the fix, and a resumed run's settings taken from its
// own directory with conflicting arguments refused.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPipeline } from "../../compiler/index.js";
import { printPipeline } from "../../compiler/print.js";
import { RunDir, RunDirError } from "../../runtime/loop/run/run-dir.js";
import { LOCK_FILE } from "../../runtime/loop/run/run-lock.js";
import { checkGivenCounts, resumeSettings } from "../../runtime/loop/run/run-resume.js";
import { Rng } from "../../runtime/engine/rng.js";
import { ckData, fakeMetrics, tinyModel } from "./run-fixtures.js";

const tmp = (tag: string) => mkdtempSync(join(tmpdir(), `acpo-resume-${tag}-`));
const grpo = () => loadPipeline("examples/grpo.acpo").pipeline!;

/** A closed run with metrics lines for steps 1..`steps` and checkpoints at `at`. */
function makeRun(tag: string, steps: number, at: number[], keep = 2): string {
  const run = RunDir.create({ name: "t", out: join(tmp(tag), "r"), keep });
  run.writeConfig({ pipeline: grpo(), seed: 0, adapter: "test" });
  const model = tinyModel(1);
  for (let s = 1; s <= steps; s++) {
    run.appendMetrics(fakeMetrics(s, "train", new Rng(s)));
    if (at.includes(s)) run.saveCheckpoint(ckData(s, model, new Rng(s)));
  }
  run.close();
  return run.path;
}

const checkpoints = (dir: string) => readdirSync(dir).filter((f) => f.startsWith("checkpoint-")).sort();

/** A child that stays alive until killed: a live PID that is not ours. */
function liveProcess(): ChildProcess {
  return spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
}
const exited = (p: ChildProcess) => new Promise<void>((res) => (p.exitCode !== null || p.signalCode !== null ? res() : p.on("exit", () => res())));

describe("the run lock", () => {
  it("is held while a run is open and released when it closes", () => {
    const run = RunDir.create({ name: "t", out: join(tmp("lock"), "r") });
    run.writeConfig({ pipeline: grpo(), seed: 0, adapter: "test" });
    const lock = join(run.path, LOCK_FILE);
    expect(JSON.parse(readFileSync(lock, "utf8"))).toMatchObject({ pid: process.pid, host: hostname() });
    expect(() => RunDir.open(run.path)).toThrow(`${run.path}: this process already has the run open`);
    run.close();
    expect(existsSync(lock)).toBe(false);
    run.close(); // closing twice is harmless
  });

  it("refuses a run a live process holds, naming its PID, and takes over a stale lock with a message", async () => {
    const dir = makeRun("live", 2, [2]);
    const lock = join(dir, LOCK_FILE);
    const child = liveProcess();
    const pid = child.pid!;
    writeFileSync(lock, `${JSON.stringify({ pid, host: hostname(), started: "2025-01-02T03:04:05.000Z" })}\n`);
    const before = readFileSync(join(dir, "metrics.jsonl"), "utf8");
    expect(() => RunDir.open(dir)).toThrow(
      new RunDirError(`${dir}: in use by process ${pid} (since 2025-01-02T03:04:05.000Z; lock file ${lock}); wait for it to finish or stop it (kill -INT ${pid} checkpoints and stops it). If process ${pid} is not acpo, delete ${lock}`),
    );
    expect(readFileSync(join(dir, "metrics.jsonl"), "utf8")).toBe(before); // nothing touched
    child.kill("SIGKILL");
    await exited(child);
    const { run, warnings } = RunDir.open(dir);
    expect(warnings).toEqual([`${lock}: process ${pid}, which held the run (since 2025-01-02T03:04:05.000Z), is no longer running; took over its lock`]);
    expect(JSON.parse(readFileSync(lock, "utf8")).pid).toBe(process.pid);
    run.close();
    expect(existsSync(lock)).toBe(false);
  });

  it("refuses a lock from another host and --out on a run a live process holds before its first checkpoint", async () => {
    const dir = makeRun("host", 2, [2]);
    const lock = join(dir, LOCK_FILE);
    writeFileSync(lock, JSON.stringify({ pid: 1234, host: "elsewhere", started: "then" }));
    expect(() => RunDir.open(dir)).toThrow(`${dir}: in use by process 1234 on host elsewhere (since then; lock file ${lock}). If no process there trains this run any more, delete ${lock}`);

    const young = makeRun("young", 1, []); // no checkpoint yet: --out would start it over, but it is still training
    const child = liveProcess();
    writeFileSync(join(young, LOCK_FILE), JSON.stringify({ pid: child.pid, host: hostname(), started: "now" }));
    expect(() => RunDir.create({ name: "t", out: young })).toThrow(`${young}: in use by process ${child.pid} (since now;`);
    expect(existsSync(join(young, "metrics.jsonl"))).toBe(true);
    child.kill("SIGKILL");
    await exited(child);
  });
});

describe("records lost before the checkpoint", () => {
  const cases: { name: string; damage: (lines: string[]) => string; want: (m: string) => string[] }[] = [
    {
      name: "a missing line",
      damage: (l) => [l[0], l[2], l[3], l[4]].join(""), // step 5 follows: dropped as after the checkpoint
      want: (m) => [`${m}:2: this line is step 3, but no line for step 2 comes before it, before the checkpoint at step 4; those metrics are lost and the resumed run continues without them`],
    },
    {
      name: "a line cut short before the checkpoint",
      damage: (l) => [l[0], l[1], l[2], l[3]!.slice(0, 40)].join(""), // only a last line can be cut short
      want: (m) => [
        `${m}:4: the line of step 4 was cut short although the checkpoint at step 4 comes after it; removed it (that step's record is lost)`,
        `${m}:4: no line for step 4 (the file ends at line 3, step 3), before the checkpoint at step 4; those metrics are lost and the resumed run continues without them`,
      ],
    },
    {
      name: "a repeated line",
      damage: (l) => [l[0], l[1], l[1], l[2], l[3], l[4]].join(""),
      want: (m) => [`${m}:3: step 2 again, after step 2 (a repeated or out-of-order line)`],
    },
    {
      name: "a file cut to nothing",
      damage: (l) => l[4]!,
      want: (m) => [`${m}:1: no line for steps 1-4 (the file is empty), before the checkpoint at step 4; those metrics are lost and the resumed run continues without them`],
    },
  ];
  it.each(cases)("are reported with file and line: $name", ({ damage, want }) => {
    const dir = makeRun("gap", 5, [4], 1);
    const m = join(dir, "metrics.jsonl");
    const lines = readFileSync(m, "utf8").split(/(?<=\n)/);
    writeFileSync(m, damage(lines));
    const { run, warnings, checkpoint } = RunDir.open(dir);
    run.close();
    expect(checkpoint!.step).toBe(4);
    expect(warnings).toEqual(want(m));
  });

  it("and a missing metrics.jsonl is reported", () => {
    const dir = makeRun("nofile", 2, [2]);
    rmSync(join(dir, "metrics.jsonl"));
    const { run, warnings } = RunDir.open(dir);
    run.close();
    expect(warnings).toEqual([`${join(dir, "metrics.jsonl")}: missing, although the run writes a line per step before each checkpoint (step 2); the metrics of steps 1-2 are lost and the resumed run continues without them`]);
  });
});

/** Overwrite every tensor byte of a safetensors file with f32 NaN, keeping its header and size. */
function fillWithNaN(path: string): void {
  const buf = readFileSync(path);
  const start = 8 + Number(buf.readBigUInt64LE(0));
  for (let i = start; i + 4 <= buf.length; i += 4) buf.writeUInt32LE(0x7fc00000, i);
  writeFileSync(path, buf);
}

/** Record a file's new size and SHA-256 in trainer_state.json, as a writer that skipped the checks would. */
function reseal(ck: string, rel: string): void {
  const statePath = join(ck, "trainer_state.json");
  const state = JSON.parse(readFileSync(statePath, "utf8")) as { files: Record<string, { bytes: number; sha256: string }> };
  const bytes = readFileSync(join(ck, rel));
  state.files[rel] = { bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
  writeFileSync(statePath, JSON.stringify(state));
}

describe("checksummed checkpoints", () => {
  it("refuse a same-size checkpoint filled with NaN, resume from the previous one, and rotate only after a newer one verifies", () => {
    const dir = makeRun("nan", 6, [2, 4, 6]);
    expect(checkpoints(dir)).toEqual(["checkpoint-4", "checkpoint-6"]);
    const weights = join(dir, "checkpoint-6", "model.safetensors");
    fillWithNaN(weights);
    const { run, checkpoint, warnings } = RunDir.open(dir);
    expect(checkpoint!.step).toBe(4);
    expect(warnings).toEqual([
      `checkpoint ${join(dir, "checkpoint-6")} is unusable: ${weights}: SHA-256 differs from the one recorded in trainer_state.json (the file changed after the checkpoint was written: overwritten or corrupted on disk)`,
      `using the older checkpoint ${join(dir, "checkpoint-4")} instead (step 4)`,
      `${join(dir, "latest")} names checkpoint-6, but the newest complete checkpoint is checkpoint-4`,
      `moved the unusable checkpoint-6 aside to ${join(dir, "checkpoint-6.broken")}`,
    ]);
    // The continued run: each save verifies before anything older is deleted.
    const model = tinyModel(1);
    for (const s of [5, 6]) run.appendMetrics(fakeMetrics(s, "train", new Rng(s)));
    run.saveCheckpoint(ckData(6, model, new Rng(6)));
    expect(checkpoints(dir)).toEqual(["checkpoint-4", "checkpoint-6", "checkpoint-6.broken"]);
    // A state with NaN is never saved, so it can never rotate the good checkpoints away.
    const poisoned = tinyModel(1);
    poisoned.weights.get("model.norm.weight")!.data[3] = NaN;
    expect(() => run.saveCheckpoint(ckData(8, poisoned, new Rng(8)))).toThrow(
      `not saving ${join(dir, "checkpoint-8")}: the policy: tensor 'model.norm.weight' holds 1 non-finite value (first: NaN at flat index 3); the earlier checkpoints are kept`,
    );
    const moments = ckData(8, model, new Rng(8));
    moments.optimizer.tensors.get("model.norm.weight.exp_avg_sq")!.data[0] = Infinity;
    expect(() => run.saveCheckpoint(moments)).toThrow(`the optimizer state: tensor 'model.norm.weight.exp_avg_sq' holds 1 non-finite value (first: Infinity at flat index 0)`);
    expect(checkpoints(dir)).toEqual(["checkpoint-4", "checkpoint-6", "checkpoint-6.broken"]);
    run.close();
  });

  it("refuse non-finite optimizer moments even when their checksum matches, naming file and tensor", () => {
    const dir = makeRun("moments", 4, [2, 4]);
    const ck = join(dir, "checkpoint-4");
    const opt = join(ck, "optimizer.safetensors");
    fillWithNaN(opt);
    reseal(ck, "optimizer.safetensors");
    const { run, checkpoint, warnings } = RunDir.open(dir);
    run.close();
    expect(checkpoint!.step).toBe(2);
    expect(warnings[0]).toMatch(new RegExp(`^checkpoint ${ck} is unusable: ${opt}: tensor '[a-z_.0-9]+\\.exp_avg(_sq)?' holds \\d+ non-finite values \\(first: NaN at flat index 0\\); the optimizer state is corrupt or diverged — use an earlier checkpoint$`));
  });

  it("read a version-1 checkpoint (sizes only) with a warning that it has no checksums", () => {
    const dir = makeRun("v1", 2, [2]);
    const statePath = join(dir, "checkpoint-2", "trainer_state.json");
    const { sampler, ...state } = JSON.parse(readFileSync(statePath, "utf8")) as { version: number; sampler?: unknown; loop?: unknown; files: Record<string, unknown> };
    state.version = 1;
    state.loop = sampler; // versions 1 and 2 named the sampler's state `loop`
    state.files = Object.fromEntries(Object.entries(state.files).map(([k, v]) => [k, (v as { bytes: number }).bytes]));
    writeFileSync(statePath, JSON.stringify(state));
    const { run, checkpoint, warnings } = RunDir.open(dir);
    run.close();
    expect(checkpoint!.step).toBe(2);
    expect(checkpoint!.checksummed).toBe(false);
    expect(warnings).toEqual([`${join(dir, "checkpoint-2")}: written by an older acpo without checksums; its files were checked for size and finite values only`]);
  });
});

describe("a run that stopped before its first checkpoint", () => {
  function uncheckpointed(tag: string): string {
    const run = RunDir.create({ name: "t", out: join(tmp(tag), "r") });
    run.writeConfig({ pipeline: grpo(), seed: 3, adapter: "test" });
    run.appendEval({ step: 0, stage: "train", split: "test", problems: 4, samples: 2, temperature: 1, metrics: { "acc@2": 0.5 }, mean_response_tokens: 5 });
    run.appendMetrics(fakeMetrics(1, "train", new Rng(1)));
    run.close();
    mkdirSync(join(run.path, "checkpoint-2.tmp-99999")); // its first checkpoint's write was cut short
    return run.path;
  }

  it("is started over by --resume with its stored configuration", () => {
    const dir = uncheckpointed("resume");
    const config = readFileSync(join(dir, "config.resolved.json"), "utf8");
    const { run, checkpoint, warnings } = RunDir.open(dir);
    run.close();
    expect(checkpoint).toBeNull();
    expect(warnings).toEqual([`${dir}: the run stopped before its first checkpoint; starting it over from step 0 with its stored configuration (config.resolved.json; removed metrics.jsonl, eval.jsonl)`]);
    expect(readdirSync(dir).sort()).toEqual(["config.resolved.json"]);
    expect(readFileSync(join(dir, "config.resolved.json"), "utf8")).toBe(config);
  });

  it("is started over by --out with the new run's configuration", () => {
    const dir = uncheckpointed("out");
    const run = RunDir.create({ name: "t", out: dir });
    expect(run.warnings).toEqual([`${dir}: held a run that stopped before its first checkpoint; starting a new run there (removed metrics.jsonl, eval.jsonl, config.resolved.json, checkpoint-2.tmp-99999)`]);
    run.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("but a run whose checkpoints are all broken is an error, not a silent restart", () => {
    const dir = makeRun("allbroken", 2, [2]);
    fillWithNaN(join(dir, "checkpoint-2", "model.safetensors"));
    expect(() => RunDir.open(dir)).toThrow(/no complete checkpoint to resume from; every checkpoint is unusable:\n {2}.*checkpoint-2\/model\.safetensors: SHA-256 differs/);
    expect(() => RunDir.create({ name: "t", out: dir })).toThrow(`${dir}: already holds a run; continue it with --resume ${dir}, or choose another --out`);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false); // the failed open released its lock
  });
});

describe("write errors", () => {
  it("name the path, the reason and the fix", () => {
    const base = tmp("write");
    writeFileSync(join(base, "file"), "x");
    const under = join(base, "file", "r");
    expect(() => RunDir.create({ name: "t", out: under })).toThrow(
      new RunDirError(`${under}: cannot create the run directory: a part of the path is a file, not a folder (ENOTDIR); choose another path, or move that file away`),
    );
    // sysfs refuses new entries to everyone (root included): a stand-in for a read-only folder.
    expect(() => RunDir.create({ name: "t", out: "/sys/acpo-run" })).toThrow(/^\/sys\/acpo-run: cannot create the run directory: (permission denied \(EACCES\)|operation not permitted \(EPERM\)|the file system is read-only \(EROFS\)); choose a folder/);

    const run = RunDir.create({ name: "t", out: join(base, "r") });
    mkdirSync(join(run.path, "metrics.jsonl"));
    expect(() => run.appendMetrics(fakeMetrics(1, "s", new Rng(1)))).toThrow(
      `${join(run.path, "metrics.jsonl")}: cannot open for appending: a folder is in the way where a file must go (EISDIR); choose another path, or move that folder away; then continue with --resume ${run.path}`,
    );
    // A full disk: /dev/full fails every write with ENOSPC.
    symlinkSync("/dev/full", join(run.path, "eval.jsonl"));
    expect(() => run.appendEval({ step: 0, stage: "s", split: "test", problems: 1, samples: 1, temperature: 1, metrics: {}, mean_response_tokens: 1 })).toThrow(
      `${join(run.path, "eval.jsonl")}: cannot append: no space left on the device (ENOSPC); free some space; then continue with --resume ${run.path}`,
    );
    mkdirSync(join(run.path, "config.resolved.json"));
    expect(() => run.writeConfig({ pipeline: grpo(), seed: 0, adapter: "test" })).toThrow(`${join(run.path, "config.resolved.json")}: cannot write the run's configuration: a folder is in the way where a file must go (EISDIR)`);
    run.close();
  });
});

describe("a resumed run's settings", () => {
  /** A run started from a copy of grpo.acpo with --set beta=0.5, seed 7, 3 steps; returns the run and the copy. */
  function started(): { dir: string; file: string } {
    const file = join(tmp("settings"), "mine.acpo");
    copyFileSync("examples/grpo.acpo", file);
    const pipeline = loadPipeline(file, { set: ["beta=0.5"] }).pipeline!;
    const run = RunDir.create({ name: "t", out: join(tmp("settings"), "r") });
    run.writeConfig({ pipeline, seed: 7, adapter: "test", set: ["beta=0.5"], steps: 3 });
    run.close();
    return { dir: run.path, file };
  }
  const stored = (dir: string) => RunDir.storedConfig(dir);

  it("come from the run's directory, even when the pipeline file was edited or deleted", () => {
    const { dir, file } = started();
    const original = printPipeline(loadPipeline(file, { set: ["beta=0.5"] }).pipeline!);
    writeFileSync(file, readFileSync(file, "utf8").replace(/lr [0-9.e-]+/, "lr 0.5"));
    const s = resumeSettings(dir, stored(dir), {});
    expect([s.seed, s.steps, s.set]).toEqual([7, 3, ["beta=0.5"]]);
    expect(s.pipeline.params.find((p) => p.name === "beta")!.value).toBe(0.5);
    expect(printPipeline(s.pipeline)).toBe(original);
    rmSync(file);
    expect(printPipeline(resumeSettings(dir, stored(dir), {}).pipeline)).toBe(original);
  });

  it("accept identical arguments and refuse conflicting ones, listing each", () => {
    const { dir, file } = started();
    expect(resumeSettings(dir, stored(dir), { seed: 7, steps: 3, set: ["beta=0.5"], pipelinePath: file, outDir: dir }).seed).toBe(7);
    const cfg = join(dir, "config.resolved.json");
    expect(() => resumeSettings(dir, stored(dir), { seed: 8, steps: 4, set: ["beta=0.1"], outDir: join(dir, "..", "other") })).toThrow(
      `cannot resume ${dir} with these arguments:\n` +
        "  --seed 8: the run's seed is 7\n" +
        "  --steps 4: the run takes 3 steps\n" +
        "  --set beta=0.1: the run was started with --set beta=0.5\n" +
        `  --out ${join(dir, "..", "other")}: the run's directory is ${dir}\n` +
        `--resume continues the run exactly as it was started (${cfg}); drop them, or start a new run (--out DIR)`,
    );
    writeFileSync(file, readFileSync(file, "utf8").replace(/lr [0-9.e-]+/, "lr 0.5"));
    expect(() => resumeSettings(dir, stored(dir), { pipelinePath: file })).toThrow(`  ${file}: differs from the pipeline the run was started with (the run uses its stored pipeline_text)\n`);
    rmSync(file);
    expect(() => resumeSettings(dir, stored(dir), { pipelinePath: file })).toThrow(`  ${file}: does not check, unlike the pipeline the run was started with`);
  });

  it("accept the file of a pipeline that extends another (its stored text no longer says so)", () => {
    const dir0 = tmp("extends");
    const file = join(dir0, "child.acpo");
    writeFileSync(file, `pipeline child extends "${resolve("examples/grpo.acpo")}" {\n  rollout { prompts 2  group 2 }\n}\n`);
    const pipeline = loadPipeline(file).pipeline!;
    const run = RunDir.create({ name: "t", out: join(dir0, "r") });
    run.writeConfig({ pipeline, seed: 0, adapter: "test", set: [], steps: 2 });
    run.close();
    expect(resumeSettings(run.path, stored(run.path), { pipelinePath: file, steps: 2, seed: 0 }).steps).toBe(2);
    writeFileSync(file, readFileSync(file, "utf8").replace("group 2", "group 4"));
    expect(() => resumeSettings(run.path, stored(run.path), { pipelinePath: file })).toThrow(`  ${file}: differs from the pipeline the run was started with`);
  });

  it("refuse a damaged config.resolved.json by field", () => {
    const { dir } = started();
    const cfgPath = join(dir, "config.resolved.json");
    const cfg = stored(dir);
    expect(() => resumeSettings(dir, { ...cfg, seed: 2 ** 32 }, {})).toThrow(`${cfgPath}: field 'seed' must be an integer in [0, 4294967295], found 4294967296; the run's configuration is damaged`);
    expect(() => resumeSettings(dir, { ...cfg, pipeline_text: "pipeline x {" }, {})).toThrow(`${cfgPath}: the run's stored pipeline (pipeline_text) does not check with this version of acpo:`);
  });

  it("and counts given to train() are checked as the CLI checks them", () => {
    const bad: [Parameters<typeof checkGivenCounts>[0], string][] = [
      [{ steps: 0 }, "--steps must be an integer >= 1, got 0"],
      [{ steps: -1 }, "--steps must be an integer >= 1, got -1"],
      [{ checkpointEvery: 0 }, "--checkpoint-every must be an integer >= 1, got 0"],
      [{ seed: 4294967296 }, "--seed must be an integer in [0, 4294967295], got 4294967296"],
      [{ seed: -1 }, "--seed must be an integer in [0, 4294967295], got -1"],
      [{ seed: 1e30 }, "--seed must be an integer in [0, 4294967295], got 1e+30"],
    ];
    for (const [given, msg] of bad) expect(() => checkGivenCounts(given), msg).toThrow(msg);
    expect(() => checkGivenCounts({ steps: 1, checkpointEvery: 1, seed: 4294967295 })).not.toThrow();
  });

  it("the CLI refuses --steps 0, --checkpoint-every 0 and out-of-range seeds before any work", () => {
    const acpo = (...args: string[]) => spawnSync(process.execPath, ["cli/acpo.js", "train", resolve("examples/grpo.acpo"), ...args], { encoding: "utf8", timeout: 120_000 });
    const r = acpo("--steps", "0", "--checkpoint-every", "1");
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("error: option '--steps <n>' argument '0' is invalid. expected an integer >= 1, got '0'\n");
    const c = acpo("--checkpoint-every", "0");
    expect(c.stderr).toBe("error: option '--checkpoint-every <n>' argument '0' is invalid. expected an integer >= 1, got '0'\n");
    const s = acpo("--seed", "4294967296");
    expect(s.stderr).toBe("error: option '--seed <n>' argument '4294967296' is invalid. expected an integer in [0, 4294967295], got '4294967296'\n");
  }, 300_000);
});
