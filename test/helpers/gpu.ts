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
