// The stage chain (stages linked by `next`): which stage runs, its compiled loss kernels
// (from the compiled artifact: the loop compiles nothing itself), and the frozen reference
// policies stages compare against (the initial policy, or the policy as it was at the end
// of a named stage). Not called a schedule: that word is the codegen's and the LR's.
import type { Pipeline, Stage } from "../../../compiler/index.js";
import { type Artifact, StageRunner } from "../../../compiler/plan/artifact.js";
import type { Gpu } from "../../engine/gpu.js";
import { Transformer } from "../../engine/model/transformer.js";
import { GpuWeights } from "../../engine/model/weights.js";

export class StageChain {
  private readonly runners = new Map<string, StageRunner>();
  /** Frozen policies by key: "initial" or a stage name. */
  private readonly frozen = new Map<string, Transformer>();
  index = 0;
  /** Total optimizer steps when the current stage started. */
  startStep = 0;

  readonly pipeline: Pipeline;

  constructor(private readonly gpu: Gpu, artifact: Artifact) {
    this.pipeline = artifact.pipeline;
    for (const s of this.pipeline.stages) {
      const sk = artifact.stages.get(s.name);
      if (!sk) throw new Error(`the compiled artifact has no kernels for stage '${s.name}'`);
      this.runners.set(s.name, new StageRunner(gpu, sk));
    }
  }

  get stage(): Stage {
    return this.pipeline.stages[this.index]!;
  }

  get runner(): StageRunner {
    return this.runners.get(this.stage.name)!;
  }

  /** Compile every stage's kernels now, so a WGSL problem shows before the first rollout. */
  async compile(): Promise<void> {
    for (const r of this.runners.values()) await r.compile();
  }

  /** Keys of the references some stage uses. */
  referencesUsed(): Set<string> {
    const out = new Set<string>();
    for (const s of this.pipeline.stages) {
      if (s.reference.kind === "initial") out.add("initial");
      if (s.reference.kind === "stage") out.add(s.reference.name);
    }
    return out;
  }

  /** Freeze a copy of `weights` under `key` if some stage references it. */
  freeze(key: string, weights: GpuWeights): void {
    if (!this.referencesUsed().has(key) || this.frozen.has(key)) return;
    this.frozen.set(key, new Transformer(this.gpu, GpuWeights.clone(this.gpu, weights)));
  }

  frozenWeights(): Map<string, GpuWeights> {
    return new Map([...this.frozen].map(([k, t]) => [k, t.weights]));
  }

  /** Restore a frozen reference (resume). */
  restoreFrozen(key: string, weights: GpuWeights): void {
    this.frozen.set(key, new Transformer(this.gpu, weights));
  }

  /** The current stage's reference policy, or null. */
  reference(): Transformer | null {
    const r = this.stage.reference;
    if (r.kind === "none") return null;
    const key = r.kind === "initial" ? "initial" : r.name;
    const t = this.frozen.get(key);
    if (!t) throw new Error(`stage '${this.stage.name}': reference '${key}' was never frozen`);
    return t;
  }

  /** Move to the stage's `next` (freezing the policy as this stage's reference); false at the end. */
  advance(weights: GpuWeights, totalSteps: number): boolean {
    this.freeze(this.stage.name, weights);
    const next = this.stage.next;
    if (next === null) return false;
    this.index = this.pipeline.stages.findIndex((s) => s.name === next);
    this.startStep = totalSteps;
    return true;
  }

  release(): void {
    for (const t of this.frozen.values()) {
      t.release();
      t.weights.release();
    }
  }
}
