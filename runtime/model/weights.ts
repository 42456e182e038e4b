// A model's parameters on the GPU, by Hugging Face name, with their gradients and the
// optimiser's moments. Upload from / download to the checkpoint's TensorMap.
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import type { ModelConfig } from "./config.js";
import { parameterSpecs } from "./layout.js";
import { CheckpointError, type TensorMap } from "./safetensors.js";

export class GpuWeights {
  /** Parameters by HF name, shapes as in the checkpoint. */
  readonly params = new Map<string, Tensor>();
  private gradTensors: Map<string, Tensor> | null = null;

  constructor(
    private readonly gpu: Gpu,
    readonly config: ModelConfig,
    weights: TensorMap,
  ) {
    for (const spec of parameterSpecs(config)) {
      const t = weights.get(spec.name);
      if (!t) throw new CheckpointError(`missing tensor '${spec.name}' (expected shape [${spec.shape}] from config.json)`);
      const n = spec.shape.reduce((a, b) => a * b, 1);
      if (t.data.length !== n) throw new CheckpointError(`tensor '${spec.name}' has ${t.data.length} values but config.json implies shape [${spec.shape}] (${n} values)`);
      this.params.set(spec.name, gpu.upload(t.data, spec.shape, spec.name));
    }
  }

  /** A copy of `other` on the GPU (a frozen reference policy); no gradients. */
  static clone(gpu: Gpu, other: GpuWeights): GpuWeights {
    const w = Object.create(GpuWeights.prototype) as GpuWeights;
    Object.assign(w, { gpu, config: other.config, params: new Map<string, Tensor>(), gradTensors: null });
    for (const [name, t] of other.params) {
      const c = gpu.empty(t.shape, `${name} (frozen)`);
      gpu.copy(c, t);
      w.params.set(name, c);
    }
    return w;
  }

  get(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`model has no parameter '${name}'`);
    return t;
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
    for (const [name, t] of this.params) this.gpu.copy(t, other.get(name));
  }

  /** Release the GPU buffers. */
  release(): void {
    this.gpu.release(...this.params.values(), ...(this.gradTensors?.values() ?? []));
    this.params.clear();
    this.gradTensors = null;
  }
}
