// Compiled plans: a directory that runs without its source (the compiled artifact of
// compiler/plan/artifact.ts, written to disk).
//   DIR/plan.json      format, compiler version, source hash, model, task, rollout, optimizer,
//                      params, `resolved` (the resolved pipeline as canonical text: `extends`
//                      flattened, every default written out), and per stage: its IR program,
//                      layout, schedule, kernels (role, bindings in order, uniforms, workgroup
//                      size, file, sha256) and the lowered programs of `until` and `priority`
//   DIR/pipeline.acpo  `resolved` again, for people to read; loading does not need it
//   DIR/kernels/*.wgsl each kernel's complete WGSL (binding prelude + body), valid on its own
//
// The training loop's entry point (`acpo run DIR`): `loadPlan(dir, { set })` returns an
// Artifact (PlanError with a clear message when bad), which `train({ plan })` runs as is.
// `set` overrides params at run time: params are kernel uniforms and program inputs, so no
// recompilation; `resolved` is checked again with `set` applied, and every stored program
// must equal its lowering from it (a param used as a compile-time constant cannot be set).
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ensureDir, outputErrorMessage } from "../../runtime/engine/fs-errors.js";
import { kernelSource, type Kernel } from "../../runtime/engine/kernel.js";
import { formatAll, loadPipeline, pipelineJson, type PipelineJson, printPipeline, type Pipeline } from "../index.js";
import { BODY_MARKER } from "../codegen/common.js";
import { generateStage, type StageKernels } from "../codegen/index.js";
import { DEFAULT_SCHEDULE, type Schedule } from "../codegen/schedule.js";
import { lowerStage, type StageProgram } from "../ir/stage.js";
import { type Artifact, type ExprProgram, lowerStagePrograms, type StagePrograms } from "./artifact.js";

export const PLAN_FORMAT = "acpo-plan";
/**
 * 2: logits read at the rollout temperature (uniform inv_temp), summary with kl and kl_loss, KL token columns.
 * 3: the resolved pipeline in plan.json (`resolved`), each stage's `until` / `priority` programs,
 *    params as pipelineJson writes them (with `source`).
 */
export const PLAN_VERSION = 3;
export const COMPILER_VERSION = "acpo-compiler 0.1.0";

export class PlanError extends Error {}

interface KernelEntry {
  role: StageKernels["kernels"][number]["role"];
  levels?: StageKernels["kernels"][number]["levels"];
  name: string;
  file: string;
  sha256: string;
  bindings: Kernel["bindings"];
  uniforms: Kernel["uniforms"];
  workgroupSize: Kernel["workgroupSize"];
}

export interface PlanJson {
  format: string;
  version: number;
  compiler: string;
  pipeline: string;
  source: { file: string; sha256: string };
  seed: number;
  model: Pipeline["model"];
  task: Pipeline["task"];
  rollout: Pipeline["rollout"];
  optimizer: Pipeline["optimizer"];
  loss: Pipeline["loss"];
  params: PipelineJson["params"];
  /** The resolved pipeline as canonical text (printPipeline). */
  resolved: string;
  stages: {
    name: string;
    next: string | null;
    reference: Pipeline["stages"][number]["reference"];
    program: StageProgram;
    schedule: Schedule;
    layout: StageKernels["layout"];
    params: Record<string, number>;
    named: StageKernels["named"];
    uses: StageKernels["uses"];
    kernels: KernelEntry[];
    until: ExprProgram;
    priority: ExprProgram | null;
  }[];
}

export interface Plan extends Artifact {
  dir: string;
  json: PlanJson;
  /** The resolved pipeline, checked again from plan.json's `resolved` with run-time `set` applied. */
  pipeline: Pipeline;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** Hash of every source file the pipeline was read from (the file and its `extends` chain). */
function sourceHash(p: Pipeline): string {
  return sha256([p.file, ...p.extendsChain].map((f) => `${f}\n${existsSync(f) ? readFileSync(f, "utf8") : ""}`).join("\n\0"));
}

/** The plan folder could not be written; the message names the path that failed and the fix. */
export class PlanWriteError extends PlanError {}

/** Run a file-system step of writing the plan at `path`; a failure becomes a PlanWriteError naming the path. */
function writing<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new PlanWriteError(outputErrorMessage(path, "write the plan", e, "or write it elsewhere with -o DIR"));
  }
}

/** Write the plan of `p` into `dir`; returns the paths written. */
export function writePlan(dir: string, p: Pipeline, schedule: Schedule = DEFAULT_SCHEDULE): string[] {
  writing(dir, () => {
    ensureDir(dir); // first on its own, so that a file named as the plan folder is "already there"
    ensureDir(join(dir, "kernels"));
    // plan.json goes last: until then no plan.json may describe kernels that are being replaced.
    rmSync(join(dir, "plan.json"), { force: true });
  });
  const save = (path: string, text: string) => writing(path, () => writeFileSync(path, text));
  const written: string[] = [];
  const stages: PlanJson["stages"] = p.stages.map((st) => {
    const program = lowerStage(p, st);
    const sk = generateStage(program, schedule);
    const kernels = sk.kernels.map(({ role, levels, kernel }) => {
      const file = `kernels/${kernel.name}.wgsl`;
      const src = kernelSource(kernel);
      save(join(dir, file), src);
      written.push(join(dir, file));
      return { role, levels, name: kernel.name, file, sha256: sha256(src), bindings: kernel.bindings, uniforms: kernel.uniforms, workgroupSize: kernel.workgroupSize };
    });
    return { name: st.name, next: st.next, reference: st.reference, program, schedule, layout: sk.layout, params: sk.params, named: sk.named, uses: sk.uses, kernels, ...lowerStagePrograms(p, st) };
  });
  // Settings as config.resolved.json records them (pipelineJson), not a second encoding.
  const { model, task, rollout, optimizer, loss, params } = pipelineJson(p);
  const json: PlanJson = {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    compiler: COMPILER_VERSION,
    pipeline: p.name,
    source: { file: p.file, sha256: sourceHash(p) },
    seed: p.seed,
    model,
    task,
    rollout,
    optimizer,
    loss,
    params,
    resolved: printPipeline(p),
    stages,
  };
  save(join(dir, "pipeline.acpo"), json.resolved);
  save(join(dir, "plan.json"), `${JSON.stringify(json, null, 1)}\n`);
  written.push(join(dir, "pipeline.acpo"), join(dir, "plan.json"));
  return written;
}

/** Read and verify a plan directory. Every problem is a PlanError naming the file. */
export function loadPlan(dirArg: string, opts: { set?: readonly string[] } = {}): Plan {
  const dir = resolve(dirArg);
  const planFile = join(dir, "plan.json");
  if (!existsSync(planFile)) throw new PlanError(`${planFile}: no plan here (write one with 'acpo compile FILE.acpo -o ${dirArg}')`);
  let json: PlanJson;
  try {
    json = JSON.parse(readFileSync(planFile, "utf8")) as PlanJson;
  } catch (e) {
    throw new PlanError(`${planFile}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (json?.format !== PLAN_FORMAT) throw new PlanError(`${planFile}: not an acpo plan (format is ${JSON.stringify(json?.format)})`);
  if (json.version !== PLAN_VERSION) throw new PlanError(`${planFile}: plan version ${json.version}, this compiler reads version ${PLAN_VERSION}; recompile the pipeline`);
  if (!Array.isArray(json.stages) || json.stages.length === 0) throw new PlanError(`${planFile}: field 'stages' is missing or empty`);
  if (typeof json.resolved !== "string") throw new PlanError(`${planFile}: field 'resolved' (the resolved pipeline) is missing; recompile the pipeline`);
  // The path only names the text in diagnostics and anchors relative paths; the file need not exist.
  const pipeFile = join(dir, "pipeline.acpo");
  const r = loadPipeline(pipeFile, { set: opts.set, text: json.resolved });
  if (!r.pipeline) throw new PlanError(`${planFile}: the resolved pipeline does not check:\n${formatAll(r)}`);
  const stages = new Map<string, StageKernels>();
  const programs = new Map<string, StagePrograms>();
  for (const [i, s] of json.stages.entries()) {
    const where = `${planFile}: stages[${i}]`;
    if (typeof s?.name !== "string" || !Array.isArray(s.kernels) || !s.program || !s.layout) throw new PlanError(`${where}: missing name, program, layout or kernels`);
    const st = r.pipeline.stages.find((x) => x.name === s.name);
    if (!st) throw new PlanError(`${where}: stage '${s.name}' is not in the resolved pipeline`);
    // Params are uniforms; anything else a --set changes would need new kernels.
    const again = lowerStage(r.pipeline, st);
    if (JSON.stringify(again.nodes) !== JSON.stringify(s.program.nodes)) {
      throw new PlanError(`${where}: the kernels of stage '${s.name}' do not match the resolved pipeline after --set (a param used as a compile-time constant changed?); recompile`);
    }
    programs.set(s.name, storedPrograms(where, r.pipeline, st, s));
    const kernels = s.kernels.map((k, j) => {
      const file = join(dir, k.file ?? "");
      if (!k.file || !existsSync(file)) throw new PlanError(`${where}.kernels[${j}]: kernel file ${k.file ?? "(none)"} is missing`);
      const src = readFileSync(file, "utf8");
      if (sha256(src) !== k.sha256) throw new PlanError(`${file}: contents do not match plan.json (edited or corrupt); recompile`);
      const at = src.indexOf(BODY_MARKER);
      if (at < 0) throw new PlanError(`${file}: not a generated stage kernel`);
      const body = src.slice(at).replace(/@compute @workgroup_size\([^)]*\)\n(?=fn main)/, "");
      const kernel: Kernel = { name: k.name, bindings: k.bindings, uniforms: k.uniforms, workgroupSize: k.workgroupSize, body };
      if (kernelSource(kernel) !== src) throw new PlanError(`${file}: bindings in plan.json do not match the kernel file; recompile`);
      return { role: k.role, levels: k.levels, kernel };
    });
    stages.set(s.name, { stage: s.name, schedule: s.schedule, layout: s.layout, params: { ...s.params, ...paramValues(r.pipeline, s.params) }, kernels, named: s.named, uses: s.uses });
  }
  return { dir, json, pipeline: r.pipeline, stages, programs };
}

/** A stage's stored `until` / `priority` programs, which must be what the resolved pipeline lowers to. */
function storedPrograms(where: string, p: Pipeline, st: Pipeline["stages"][number], s: PlanJson["stages"][number]): StagePrograms {
  const stored: StagePrograms = { until: s.until, priority: s.priority ?? null };
  if (!stored.until || !Array.isArray(stored.until.nodes)) throw new PlanError(`${where}: missing the 'until' program`);
  if (JSON.stringify(lowerStagePrograms(p, st)) !== JSON.stringify(stored)) {
    throw new PlanError(`${where}: the until / priority programs of stage '${st.name}' do not match the resolved pipeline after --set (a param used as a compile-time constant changed?); recompile`);
  }
  return stored;
}

function paramValues(p: Pipeline, used: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of Object.keys(used)) {
    const q = p.params.find((x) => x.name === name);
    if (q) out[name] = q.value;
  }
  return out;
}
