// One GPU context per test file (each vitest worker is its own process with its own Dawn device).
import { afterAll } from "vitest";
import { Gpu } from "../../runtime/engine/gpu.js";

let shared: Promise<Gpu> | null = null;

/** The test file's GPU context; destroyed after the file's tests. */
export function testGpu(): Promise<Gpu> {
  if (!shared) {
    shared = Gpu.create();
    afterAll(async () => {
      const gpu = await shared!;
      shared = null;
      await gpu.destroy();
    });
  }
  return shared;
}

const limited = new Map<number, Promise<Gpu>>();

/**
 * A second GPU context for the file whose storage bindings hold at most `maxBindingBytes`
 * (lowered from the adapter's limit), so that small tensors take the ranged-binding path.
 */
export function rangedTestGpu(maxBindingBytes: number): Promise<Gpu> {
  let gpu = limited.get(maxBindingBytes);
  if (!gpu) {
    gpu = Gpu.create({ maxBindingBytes });
    limited.set(maxBindingBytes, gpu);
    afterAll(async () => {
      const g = await gpu!;
      limited.delete(maxBindingBytes);
      await g.destroy();
    });
  }
  return gpu;
}
