// The bind-group cache of Gpu.dispatch: one group per (binding signature, buffers), reused
// across uniform slots (a dynamic offset) and across kernels of the same signature; dropped
// when a buffer it binds is destroyed (the uniform arena when it grows) and past its size limit.
// Each case checks the values the dispatches compute, so a stale or shared group that bound the
// wrong buffer or the wrong uniforms shows as a wrong number, not only as a count.
import { describe, expect, it } from "vitest";
import { BindGroupCache, Gpu } from "../../runtime/engine/gpu.js";
import type { Kernel } from "../../runtime/engine/kernel.js";
import { testGpu } from "../helpers/gpu.js";

const scale: Kernel = {
  name: "bg_scale",
  bindings: [{ name: "x", access: "read_write" }],
  uniforms: [{ name: "n", type: "u32" }, { name: "s", type: "f32" }],
  workgroupSize: [64, 1, 1],
  body: `fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x < u.n) { x[gid.x] = x[gid.x] * u.s; }
}`,
};

// Same signature as `scale` (one writable buffer, uniforms), different kernel.
const shift: Kernel = {
  name: "bg_shift",
  bindings: [{ name: "x", access: "read_write" }],
  uniforms: [{ name: "n", type: "u32" }, { name: "s", type: "f32" }],
  workgroupSize: [64, 1, 1],
  body: `fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x < u.n) { x[gid.x] = x[gid.x] + u.s; }
}`,
};

// An unused binding is allowed with explicit layouts (with "auto" it was a validation error).
const copyFirst: Kernel = {
  name: "bg_copy_first",
  bindings: [{ name: "dst", access: "read_write" }, { name: "src", access: "read" }, { name: "unused", access: "read" }],
  uniforms: [],
  workgroupSize: [1, 1, 1],
  body: "fn main() { dst[0] = src[0]; }",
};

const delta = (gpu: Gpu, before: { created: number; reused: number }): { created: number; reused: number } =>
  ({ created: gpu.bindGroups.stats.created - before.created, reused: gpu.bindGroups.stats.reused - before.reused });

describe("bind-group cache", () => {
  it("makes one group for repeated dispatches of a kernel on the same buffers, each with its own uniforms", async () => {
    const gpu = await testGpu();
    const x = gpu.upload(new Float32Array([1, 2, 3]));
    const before = { ...gpu.bindGroups.stats };
    for (const s of [2, 3, 0.5, 10]) gpu.dispatch(scale, [x], { n: 3, s }, [1]);
    expect([...(await gpu.read(x))]).toEqual([30, 60, 90]);
    expect(delta(gpu, before)).toEqual({ created: 1, reused: 3 });
    gpu.release(x);
  });

  it("shares a group between kernels of one signature, and makes another for other buffers", async () => {
    const gpu = await testGpu();
    const x = gpu.upload(new Float32Array([1, 2]));
    const y = gpu.upload(new Float32Array([5, 7]));
    gpu.dispatch(scale, [x], { n: 2, s: 2 }, [1]); // may reuse a group from an earlier test's buffer
    const before = { ...gpu.bindGroups.stats };
    gpu.dispatch(shift, [x], { n: 2, s: 1 }, [1]);
    gpu.dispatch(shift, [y], { n: 2, s: -1 }, [1]);
    gpu.dispatch(scale, [y], { n: 2, s: 3 }, [1]);
    expect([...(await gpu.read(x))]).toEqual([3, 5]);
    expect([...(await gpu.read(y))]).toEqual([12, 18]);
    expect(delta(gpu, before)).toEqual({ created: 1, reused: 2 });
    gpu.release(x, y);
  });

  it("keeps a pooled buffer's group valid for the next tensor that reuses the buffer", async () => {
    const gpu = await testGpu();
    const dst = gpu.zeros([4]);
    const a = gpu.upload(new Float32Array([1, 0, 0, 0]));
    const spare = gpu.upload(new Float32Array([9, 9, 9, 9]));
    gpu.dispatch(copyFirst, [dst, a, spare], {}, [1]);
    expect((await gpu.read(dst))[0]).toBe(1);
    const buffer = a.buffer;
    gpu.release(a);
    const b = gpu.upload(new Float32Array([42, 0, 0, 0]));
    expect(b.buffer).toBe(buffer); // the pool handed the same buffer to a new tensor
    const before = { ...gpu.bindGroups.stats };
    gpu.dispatch(copyFirst, [dst, b, spare], {}, [1]);
    expect((await gpu.read(dst))[0]).toBe(42);
    expect(delta(gpu, before)).toEqual({ created: 0, reused: 1 });
    gpu.release(dst, b, spare);
  });

  it("forgets the groups of the uniform arena it replaces when the arena grows", async () => {
    const gpu = await Gpu.create(); // a fresh device: the arena starts at 64 slots
    try {
      const x = gpu.upload(new Float32Array([1]));
      // 100 dispatches in one batch: the arena fills at 64, is submitted, grows and is replaced.
      for (let i = 0; i < 100; i++) gpu.dispatch(shift, [x], { n: 1, s: 1 }, [1]);
      expect([...(await gpu.read(x))]).toEqual([101]);
      // Only the group binding the new arena is left; the one binding the destroyed arena is gone.
      expect(gpu.bindGroups.stats.created).toBe(2);
      expect(gpu.bindGroups.size).toBe(1);
      gpu.dispatch(shift, [x], { n: 1, s: 1 }, [1]);
      expect([...(await gpu.read(x))]).toEqual([102]);
      expect(gpu.bindGroups.stats.created).toBe(2);
    } finally {
      await gpu.destroy();
    }
    expect(gpu.bindGroups.size).toBe(0);
  });

  it("forgets a buffer's groups on request and keeps at most its limit, oldest dropped first", async () => {
    const gpu = await testGpu();
    const layout = gpu.device.createBindGroupLayout({ entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: "storage" } }] });
    const [p, q, r] = [1, 2, 3].map(() => gpu.empty([4]));
    const make = (t: { buffer: GPUBuffer }) => () => gpu.device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: t.buffer } }] });
    const cache = new BindGroupCache(2);
    const gp = cache.get("w", [p!.buffer], make(p!));
    expect(cache.get("w", [p!.buffer], make(p!))).toBe(gp);
    expect(cache.get("w+u", [p!.buffer], make(p!))).not.toBe(gp); // the signature is part of the key
    cache.forget(p!.buffer);
    expect(cache.size).toBe(0);
    cache.get("w", [p!.buffer], make(p!));
    cache.get("w", [q!.buffer], make(q!));
    cache.get("w", [r!.buffer], make(r!)); // third group: the oldest (p) is dropped
    expect(cache.size).toBe(2);
    const made = cache.stats.created;
    cache.get("w", [q!.buffer], make(q!));
    cache.get("w", [p!.buffer], make(p!));
    expect(cache.stats.created - made).toBe(1);
    gpu.release(p, q, r);
  });
});

describe("kernel source memo", () => {
  it("compiles a kernel object anew when its body is replaced after use", async () => {
    const gpu = await testGpu();
    const k: Kernel = { ...scale, name: "bg_memo", body: scale.body };
    const x = gpu.upload(new Float32Array([2]));
    gpu.dispatch(k, [x], { n: 1, s: 3 }, [1]);
    expect([...(await gpu.read(x))]).toEqual([6]);
    k.body = shift.body; // same object, new meaning: x + s
    gpu.dispatch(k, [x], { n: 1, s: 3 }, [1]);
    expect([...(await gpu.read(x))]).toEqual([9]);
    gpu.release(x);
  });
});
