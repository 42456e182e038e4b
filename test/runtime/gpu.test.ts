// The runtime core: pooling, batching, ordering, errors that name the kernel, device loss, clean exit.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { DeviceLostError, KernelError } from "../../runtime/engine/errors.js";
import { Gpu } from "../../runtime/engine/gpu.js";
import type { Kernel } from "../../runtime/engine/kernel.js";
import { residualForward } from "../../runtime/engine/ops/residual.js";
import { testGpu } from "../helpers/gpu.js";

const scaleKernel: Kernel = {
  name: "test_scale",
  bindings: [{ name: "x", access: "read_write" }],
  uniforms: [{ name: "n", type: "u32" }, { name: "s", type: "f32" }],
  workgroupSize: [64, 1, 1],
  body: `fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x < u.n) { x[gid.x] = x[gid.x] * u.s; }
}`,
};

describe("Gpu runtime core", () => {
  it("reuses released buffers from the pool", async () => {
    const gpu = await testGpu();
    const a = gpu.empty([1000]);
    const buf = a.buffer;
    gpu.release(a);
    const b = gpu.empty([1001]); // same size bucket
    expect(b.buffer).toBe(buf);
    gpu.release(b);
  });

  it("trimPool destroys the released buffers only: live tensors keep their contents, and new ones are fresh", async () => {
    // `acpo compare` and `acpo sweep` trim between runs on one shared device (cli/run-series.ts).
    const gpu = await testGpu();
    const kept = gpu.upload(new Float32Array([1, 2, 3]));
    const before = gpu.memory.allocated;
    const a = gpu.empty([5000]), b = gpu.empty([70000]);
    const pooled = a.buffer.size + b.buffer.size;
    gpu.release(a, b);
    expect(gpu.memory.allocated).toBe(before + pooled);
    gpu.trimPool();
    expect(gpu.memory.allocated).toBe(gpu.memory.live); // the pool held nothing else once trimmed
    const c = gpu.empty([5000]);
    expect(c.buffer).not.toBe(a.buffer); // not handed a destroyed buffer from the pool
    gpu.dispatch(scaleKernel, [kept], { n: 3, s: 2 }, [1]);
    expect(Array.from(await gpu.read(kept))).toEqual([2, 4, 6]);
    gpu.release(kept, c);
  });

  it("records many dispatches with distinct uniforms in one submit, in order", async () => {
    const gpu = await testGpu();
    const n = 37;
    const x = gpu.upload(new Float32Array(n).fill(1));
    const submits = gpu.stats.submits;
    // 300 dispatches overflow the initial uniform arena (64 slots): it must grow, not corrupt.
    let want = 1;
    for (let i = 0; i < 300; i++) {
      const s = i % 2 === 0 ? 2 : 0.5 + (i % 7) * 0.01;
      gpu.dispatch(scaleKernel, [x], { n, s }, [1]);
      want = Math.fround(want * Math.fround(s));
    }
    const got = await gpu.read(x);
    expect(got[0]).toBeCloseTo(want, 3);
    expect(got[n - 1]).toBe(got[0]);
    expect(gpu.stats.submits - submits).toBeLessThanOrEqual(3);
    // The arena has grown (to 256 slots): a batch of 200 now goes in a single submit.
    const before = gpu.stats.submits;
    for (let i = 0; i < 200; i++) gpu.dispatch(scaleKernel, [x], { n, s: 1 }, [1]);
    await gpu.read(x);
    expect(gpu.stats.submits - before).toBe(1);
  });

  it("orders writes after the work recorded before them", async () => {
    const gpu = await testGpu();
    const x = gpu.upload(new Float32Array([1, 2, 3]));
    const y = gpu.empty([3]);
    residualForward(gpu, y, x, x); // y = 2x with the old x
    gpu.write(x, new Float32Array([10, 20, 30]));
    expect([...(await gpu.read(y))]).toEqual([2, 4, 6]);
    expect([...(await gpu.read(x))]).toEqual([10, 20, 30]);
  });

  it("turns WGSL compilation errors into a KernelError naming the kernel", async () => {
    const gpu = await testGpu();
    const broken: Kernel = { ...scaleKernel, name: "broken_kernel", body: "fn main() { let a: f32 = undefined_name; }" };
    await expect(gpu.compile(broken)).rejects.toThrow(KernelError);
    await expect(gpu.compile(broken)).rejects.toThrow(/broken_kernel/);
  });

  it("turns dispatch validation errors into a KernelError naming the kernel", async () => {
    const gpu = await testGpu();
    const twoOut: Kernel = {
      name: "aliasing_kernel",
      bindings: [{ name: "a", access: "read_write" }, { name: "b", access: "read" }],
      uniforms: [],
      workgroupSize: [1, 1, 1],
      body: "fn main() { a[0] = b[0]; }",
    };
    const x = gpu.upload(new Float32Array([1]));
    // The same buffer bound writable and read-only in one dispatch is a WebGPU validation error,
    // refused when recorded (Dawn's report at the end of the batch would not name the dispatch).
    let err: unknown = null;
    try {
      gpu.dispatch(twoOut, [x, x], {}, [1]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).kernel).toBe("aliasing_kernel");
    expect((err as KernelError).kind).toBe("validation");
  });

  it("rejects a buffer larger than the device allows with a clear message", async () => {
    const gpu = await testGpu();
    const limit = gpu.device.limits.maxBufferSize;
    expect(() => gpu.empty([Math.ceil(limit / 4) + 16], "huge")).toThrow(/huge.*exceeds/);
  });

  it("checks buffer counts and workgroup limits before recording", async () => {
    const gpu = await testGpu();
    const x = gpu.empty([4]);
    expect(() => gpu.dispatch(scaleKernel, [x, x], { n: 4, s: 1 }, [1])).toThrow(/test_scale.*expected 1 buffers/);
    expect(() => gpu.dispatch(scaleKernel, [x], { n: 4 }, [1])).toThrow(/missing uniform 's'/);
    expect(() => gpu.dispatch(scaleKernel, [x], { n: 4, s: 1 }, [70000])).toThrow(/exceeds 65535/);
  });

  it("reports a lost device clearly on the next call", async () => {
    const gpu = await Gpu.create();
    const x = gpu.upload(new Float32Array([1]));
    gpu.device.destroy(); // what a driver reset looks like from our side
    await new Promise((r) => setTimeout(r, 50));
    expect(() => gpu.dispatch(scaleKernel, [x], { n: 1, s: 2 }, [1])).toThrow(DeviceLostError);
    await gpu.destroy(); // teardown after loss must not throw
  });

  it("lets the process exit cleanly after destroy()", () => {
    const script = `
      import { Gpu } from "./runtime/engine/gpu.ts";
      import { residualForward } from "./runtime/engine/ops/residual.ts";
      const gpu = await Gpu.create();
      const a = gpu.upload(new Float32Array([1, 2]));
      const out = gpu.empty([2]);
      residualForward(gpu, out, a, a);
      const v = await gpu.read(out);
      await gpu.destroy();
      console.log("result", v[0], v[1]);
    `;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000, cwd: process.cwd() });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("result 2 4");
  });
});
