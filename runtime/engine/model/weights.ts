// A model's parameters on the GPU, by Hugging Face name, with their gradients and the
// optimiser's moments. Upload from / download to the checkpoint's TensorMap.
//
// Under `precision f16` the linear layers' weight matrices (`*_proj.weight`, `lm_head.weight`)
// also live as f16 copies, which the forward and backward matmuls read (matmul-f16.ts: f32
// accumulation); `params` stays the f32 master that AdamW updates and checkpoints save, and
// `refreshHalf` re-rounds the copies after each optimizer step. Embeddings (a gather, and the
// tied head that shares them), norms and biases stay f32.
import type { Gpu } from "../gpu.js";
import { castToF16, requireShaderF16 } from "../ops/matmul-f16.js";
import type { Tensor } from "../tensor.js";
import type { ModelConfig } from "./config.js";
import { parameterSpecs } from "./layout.js";
import { CheckpointError, type TensorMap } from "./safetensors.js";

/** How the linear layers' weights are stored for the matmuls: f32, or f16 with an f32 master. */
export type Precision = "f32" | "f16";

/** Parameters stored as f16 under `precision f16`: the matrices only the matmuls read. */
export const isHalfWeight = (name: string): boolean => /(_proj|^lm_head)\.weight$/.test(name);

/** Where a precision was asked for, named in refusals ("model { precision f16 }", "--precision f16"). */
export interface PrecisionChoice {
  precision: Precision;
  setting?: string;
}

export class GpuWeights {
  /** Parameters by HF name, shapes as in the checkpoint (f32; under f16, the masters). */
  readonly params = new Map<string, Tensor>();
  /** Under `precision f16`: f16 copies of the `isHalfWeight` parameters, read by the matmuls. */
  private readonly half = new Map<string, Tensor>();
  private gradTensors: Map<string, Tensor> | null = null;
  readonly precision: Precision;

  constructor(
    private readonly gpu: Gpu,
    readonly config: ModelConfig,
    weights: TensorMap,
    choice: PrecisionChoice = { precision: "f32" },
  ) {
    this.precision = choice.precision;
    if (this.precision === "f16") requireShaderF16(gpu.device.features as ReadonlySet<string>, adapterName(gpu), choice.setting ?? "precision f16");
    for (const spec of parameterSpecs(config)) {
      const t = weights.get(spec.name);
      if (!t) throw new CheckpointError(`missing tensor '${spec.name}' (expected shape [${spec.shape}] from config.json)`);
      const n = spec.shape.reduce((a, b) => a * b, 1);
      if (t.data.length !== n) throw new CheckpointError(`tensor '${spec.name}' has ${t.data.length} values but config.json implies shape [${spec.shape}] (${n} values)`);
      if (this.precision === "f16" && isHalfWeight(spec.name)) assertHalfRange(spec.name, t.data, choice.setting ?? "precision f16");
      this.params.set(spec.name, gpu.upload(t.data, spec.shape, spec.name));
    }
    this.refreshHalf();
  }

  /** A copy of `other` on the GPU (a frozen reference policy), in its precision; no gradients. */
  static clone(gpu: Gpu, other: GpuWeights): GpuWeights {
    const w = Object.create(GpuWeights.prototype) as GpuWeights;
    Object.assign(w, { gpu, config: other.config, params: new Map<string, Tensor>(), half: new Map<string, Tensor>(), gradTensors: null, precision: other.precision });
    for (const [name, t] of other.params) {
      const c = gpu.empty(t.shape, `${name} (frozen)`);
      gpu.copy(c, t);
      w.params.set(name, c);
    }
    w.refreshHalf();
    return w;
  }

  /** The tensor the model's kernels read: the f16 copy of a half weight under f16, else the f32 parameter. */
  get(name: string): Tensor {
    const t = this.half.get(name) ?? this.params.get(name);
    if (!t) throw new Error(`model has no parameter '${name}'`);
    return t;
  }

  /**
   * Under `precision f16`, round every half weight's f32 master into its f16 copy (recorded on
   * the GPU; AdamW calls it after each update). Nothing to do under f32.
   */
  refreshHalf(): void {
    if (this.precision !== "f16") return;
    for (const [name, p] of this.params) {
      if (!isHalfWeight(name)) continue;
      let h = this.half.get(name);
      if (!h) this.half.set(name, (h = this.gpu.empty(p.shape, `${name} (f16)`, "f16")));
      castToF16(this.gpu, h, p);
    }
  }

  has(name: string): boolean {
    return this.params.has(name);
  }

  /** Gradient buffers, same names and shapes; allocated (zeroed) on first use. */
  get grads(): Map<string, Tensor> {
    if (!this.gradTensors) {
      this.gradTensors = new Map();
      for (const [name, p] of this.params) this.gradTensors.set(name, this.gpu.zeros(p.shape, `grad ${name}`));
    }
    return this.gradTensors;
  }

  grad(name: string): Tensor {
    return this.grads.get(name)!;
  }

  /** Zero every gradient (recorded on the GPU, before the next backward). */
  zeroGrads(): void {
    for (const g of this.grads.values()) this.gpu.clear(g);
  }

  /** Read every parameter back to the CPU (for saving a checkpoint). */
  async download(): Promise<TensorMap> {
    const out: TensorMap = new Map();
    for (const [name, t] of this.params) out.set(name, { shape: [...t.shape], data: await this.gpu.read(t) });
    return out;
  }

  /** Copy parameters from another model with the same config (e.g. to freeze a reference policy). */
  copyFrom(other: GpuWeights): void {
    for (const [name, t] of this.params) this.gpu.copy(t, other.params.get(name) ?? other.get(name));
    this.refreshHalf();
  }

  /** Release the GPU buffers. */
  release(): void {
    this.gpu.release(...this.params.values(), ...this.half.values(), ...(this.gradTensors?.values() ?? []));
    this.params.clear();
    this.half.clear();
    this.gradTensors = null;
  }
}

const adapterName = (gpu: Gpu): string => gpu.info.description || gpu.info.device || gpu.info.vendor || "unknown adapter";

/**
 * Refuse a checkpoint whose weight would not survive the f16 rounding: a finite value that
 * becomes Infinity (|x| >= 65520) would turn logits into NaN far from its cause. Values
 * below f16's range round to subnormals or zero (matmul-f16.ref.ts): a loss of precision,
 * not of meaning, so they pass.
 */
function assertHalfRange(name: string, data: Float32Array, setting: string): void {
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    // 65520 is half-way between 65504 and the next step (Infinity): it and beyond round up.
    if (Math.abs(x) >= 65520 && Number.isFinite(x)) {
      throw new CheckpointError(`${setting}: tensor '${name}' holds ${x} at flat index ${i}, beyond f16's largest value 65504; load this model with precision f32`);
    }
  }
}

/**
 * Decoder options for these weights: the decoder's concatenated q/k/v and gate/up copies are
 * f32 buffers built by element copies, which f16 tensors do not take, so under f16 it runs
 * the separate projections (each through the f16 matmul) instead.
 */
export const decodePacking = (w: GpuWeights): { pack?: boolean } => (w.precision === "f16" ? { pack: false } : {});

/** The language's `model "DIR" { precision ... }` as a precision choice (absent: f32), naming the setting in refusals. */
export const precisionOf = (model: { precision?: Precision }): PrecisionChoice => ({
  precision: model.precision ?? "f32",
  setting: `model { precision ${model.precision ?? "f32"} }`,
});
