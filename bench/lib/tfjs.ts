// @tensorflow/tfjs-backend-webgpu on the same Dawn adapter acpo uses, as a baseline.
// tfjs finds WebGPU through `navigator.gpu` (checked when its module loads) and asks it
// for a 'high-performance' adapter, so we install a Dawn GPU object created with the
// flags acpo's runtime uses, and refuse to measure if the adapter it hands out differs.
import { create } from "webgpu";
import type { Gpu } from "../../runtime/engine/gpu.js";

type Tf = typeof import("@tensorflow/tfjs-core");

export interface TfjsHandle {
  tf: Tf;
  /** Wait until everything tfjs queued has run (its submit + queue completion). */
  sync(): Promise<void>;
  adapter: string;
}

let keepAlive: GPU | null = null; // dawn.node frees in-flight work if its GPU object is collected

export async function tfjsOnDawn(gpu: Gpu): Promise<TfjsHandle> {
  const flags = ["disable-dawn-features=timestamp_quantization"];
  if (process.env.ACPO_BACKEND) flags.push(`backend=${process.env.ACPO_BACKEND}`);
  if (process.env.ACPO_ADAPTER) flags.push(`adapter=${process.env.ACPO_ADAPTER}`);
  const dawn = create(flags);
  keepAlive = dawn;
  let seen: GPUAdapterInfo | null = null;
  const gpuForTfjs = {
    requestAdapter: async (opts?: GPURequestAdapterOptions) => {
      const a = await dawn.requestAdapter(opts);
      seen = a?.info ?? null;
      return a;
    },
    getPreferredCanvasFormat: () => "rgba8unorm",
    wgslLanguageFeatures: dawn.wgslLanguageFeatures,
  };
  Object.defineProperty(globalThis, "navigator", { value: { gpu: gpuForTfjs, userAgent: "node" }, configurable: true, writable: true });
  const tf = await import("@tensorflow/tfjs-core");
  await import("@tensorflow/tfjs-backend-webgpu");
  if (!(await tf.setBackend("webgpu"))) throw new Error("tfjs could not initialise its webgpu backend");
  await tf.ready();
  const info = seen as GPUAdapterInfo | null;
  const same = info !== null && info.device === gpu.info.device && info.description === gpu.info.description && info.architecture === gpu.info.architecture;
  if (!same) throw new Error(`tfjs got adapter '${info?.description ?? "none"}', acpo uses '${gpu.info.description}'`);
  // tfjs records into its own encoder and submits in batches; end its pass and submit what it holds.
  const backend = tf.backend() as unknown as { device: GPUDevice; commandEncoder: GPUCommandEncoder | null; endComputePassEncoder(): void; submitQueue(): void };
  return {
    tf,
    adapter: `${info!.device} (${info!.description})`,
    sync: async () => {
      backend.endComputePassEncoder();
      if (backend.commandEncoder) backend.submitQueue();
      await backend.device.queue.onSubmittedWorkDone();
    },
  };
}
