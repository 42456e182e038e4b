// AdamW over a model's GPU weights with global gradient-norm clipping, all on the GPU:
// the norm and the clip coefficient stay in 1-element buffers that the update reads, so a
// step needs no readback (read `lastNorm` when logging).
//
// Under `precision f16` the update applies to the f32 master weights (weights.params) and the
// f16 copies are refreshed from them after every step (GpuWeights.refreshHalf).
//
// Weight decay follows Hugging Face Trainer's parameter groups: biases and norm weights are
// not decayed, every other weight is.
import type { Gpu } from "../gpu.js";
import type { Tensor } from "../tensor.js";
import { adamwStep } from "../ops/adamw.js";
import { clipCoefficient, gradNorm } from "../ops/gradnorm.js";
import type { TensorMap } from "./safetensors.js";
import type { GpuWeights } from "./weights.js";

export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient L2 norm to this; Infinity disables clipping. */
  maxGradNorm: number;
}

export const ADAMW_DEFAULTS: AdamWConfig = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.0, maxGradNorm: 1.0 };

const noDecay = (name: string): boolean => name.endsWith(".bias") || name.endsWith("norm.weight");

export class AdamWOptimizer {
  /** Completed steps (torch's state['step']). */
  t = 0;
  private readonly m = new Map<string, Tensor>();
  private readonly v = new Map<string, Tensor>();
  /** (1) global gradient norm before clipping, of the last step. */
  readonly lastNorm: Tensor;
  private readonly scale: Tensor; // (1) clip coefficient

  constructor(
    private readonly gpu: Gpu,
    private readonly weights: GpuWeights,
    readonly config: AdamWConfig,
  ) {
    for (const [name, p] of weights.params) {
      this.m.set(name, gpu.zeros(p.shape, `adam m ${name}`));
      this.v.set(name, gpu.zeros(p.shape, `adam v ${name}`));
    }
    this.lastNorm = gpu.zeros([1], "grad norm");
    this.scale = gpu.zeros([1], "clip coefficient");
  }

  /** Record the global gradient norm into `lastNorm` (so the caller can inspect it before stepping). */
  measureNorm(): void {
    gradNorm(this.gpu, this.lastNorm, [...this.weights.grads.values()]);
  }

  /**
   * Record one update from weights.grads at learning rate `lr` (default: the config's).
   * `normMeasured`: measureNorm() already ran on these gradients.
   */
  step(lr = this.config.lr, { normMeasured = false } = {}): void {
    const gpu = this.gpu, c = this.config;
    if (!normMeasured) this.measureNorm();
    clipCoefficient(gpu, this.scale, this.lastNorm, { maxNorm: Number.isFinite(c.maxGradNorm) ? c.maxGradNorm : 3.4e38 });
    this.t++;
    for (const [name, p] of this.weights.params) {
      adamwStep(gpu, p, this.m.get(name)!, this.v.get(name)!, this.weights.grad(name), {
        t: this.t, lr, beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: noDecay(name) ? 0 : c.weightDecay, gradScale: this.scale,
      });
    }
    // Under precision f16 the update went to the f32 masters: re-round the copies the matmuls read.
    this.weights.refreshHalf();
  }

  /** Moments and step count, for checkpoints (names: `<param>.exp_avg`, `<param>.exp_avg_sq`). */
  async state(): Promise<{ t: number; tensors: TensorMap }> {
    const tensors: TensorMap = new Map();
    for (const [name, m] of this.m) {
      tensors.set(`${name}.exp_avg`, { shape: [...m.shape], data: await this.gpu.read(m) });
      tensors.set(`${name}.exp_avg_sq`, { shape: [...m.shape], data: await this.gpu.read(this.v.get(name)!) });
    }
    return { t: this.t, tensors };
  }

  loadState(t: number, tensors: TensorMap): void {
    for (const [name, m] of this.m) {
      const a = tensors.get(`${name}.exp_avg`), b = tensors.get(`${name}.exp_avg_sq`);
      if (!a || !b) throw new Error(`optimizer state lacks the moments of '${name}'`);
      this.gpu.write(m, a.data);
      this.gpu.write(this.v.get(name)!, b.data);
    }
    this.t = t;
  }

  release(): void {
    this.gpu.release(...this.m.values(), ...this.v.values(), this.lastNorm, this.scale);
  }
}
