// Tensors larger than one storage binding, bound range by range (gpu.ts bindingRanges, tensor.ts
// views). A second device with its binding limit lowered to LIMIT bytes takes the ranged path on
// small sizes; its results are compared with the whole-binding device's and the references.
import { describe, expect, it } from "vitest";
import { KernelError } from "../../runtime/engine/errors.js";
import { Gpu, bindingLimitFromEnv } from "../../runtime/engine/gpu.js";
import { adamwStep } from "../../runtime/engine/ops/adamw.js";
import { embeddingBackward, embeddingForward } from "../../runtime/engine/ops/embedding.js";
import { embeddingBackwardRef, embeddingForwardRef } from "../../runtime/engine/ops/embedding.ref.js";
import { gradNorm, scaleGrads } from "../../runtime/engine/ops/gradnorm.js";
import { castToF16 } from "../../runtime/engine/ops/matmul-f16.js";
import { toHalfBits } from "../../runtime/engine/ops/matmul-f16.ref.js";
import { Tensor } from "../../runtime/engine/tensor.js";
import { rangedTestGpu, testGpu } from "../helpers/gpu.js";
import { expectClose, randArray, randInts } from "../helpers/numeric.js";

/** 417 rows of 96 bytes fit, but 417 * 96 is no multiple of 256: ranges are rounded down to 416 rows. */
const LIMIT = 40100;
const rangedGpu = () => rangedTestGpu(LIMIT);

describe("binding ranges", () => {
  it("plans aligned ranges that fit the lowered limit, and refuses a unit that cannot fit", async () => {
    const gpu = await rangedGpu();
    expect(gpu.maxBindingBytes).toBe(LIMIT);
    expect(gpu.bindingAlignment).toBe(256);
    expect(gpu.bindingRanges(1009, [96], "table")).toEqual([{ start: 0, count: 416 }, { start: 416, count: 416 }, { start: 832, count: 177 }]);
    expect(gpu.bindingRanges(100, [96], "table")).toEqual([{ start: 0, count: 100 }]);
    expect(() => gpu.bindingRanges(3, [LIMIT + 4], "lm_head.weight")).toThrow(
      `lm_head.weight: one row of ${LIMIT + 4} bytes exceeds one storage binding (${LIMIT} bytes), so it cannot be split into row ranges`,
    );
    // 40,000 = 64 x 625 bytes: 4 rows are the smallest range ending on a 256-byte boundary, and do not fit.
    expect(() => gpu.bindingRanges(64, [40000], "w")).toThrow(
      `w: 4 unit(s) of 40000 bytes (the smallest range whose offsets keep the 256-byte alignment) exceed one storage binding (${LIMIT} bytes); this tensor cannot be split into bindable ranges`,
    );
  });

  it("ACPO_MAX_BINDING_BYTES takes a positive whole number of bytes, a multiple of 4", () => {
    expect(bindingLimitFromEnv({})).toBeUndefined();
    expect(bindingLimitFromEnv({ ACPO_MAX_BINDING_BYTES: "65536" })).toBe(65536);
    for (const bad of ["64k", "0", "-4", "1022", "1e3.5"]) {
      expect(() => bindingLimitFromEnv({ ACPO_MAX_BINDING_BYTES: bad })).toThrow(`ACPO_MAX_BINDING_BYTES=${bad}: expected a positive whole number of bytes, a multiple of 4`);
    }
  });

  it("a limit above the adapter's is the adapter's: the override only lowers it", async () => {
    const gpu = await testGpu();
    const big = await Gpu.create({ maxBindingBytes: gpu.device.limits.maxStorageBufferBindingSize * 2 });
    try {
      expect(big.maxBindingBytes).toBe(gpu.device.limits.maxStorageBufferBindingSize);
    } finally {
      await big.destroy();
    }
  });

  it("refuses to bind a tensor larger than one binding whole, naming kernel and tensor", async () => {
    const gpu = await rangedGpu();
    const t = gpu.zeros([LIMIT / 4 + 64], "big"), out = gpu.zeros([1, 4], "out"), ids = gpu.upload(new Uint32Array([0]), [1], "ids");
    // A bare dispatch of the forward kernel through a caller that ignores the ranges.
    expect(() => gpu.dispatch({ name: "whole", bindings: [{ name: "x", access: "read_write" }], uniforms: [], workgroupSize: [1, 1, 1], body: "fn main() { x[0] = 1.0; }" }, [t], {}, [1])).toThrow(
      `kernel 'whole': binding 'x' gets tensor 'big' of ${LIMIT + 256} bytes, more than one storage binding holds (${LIMIT}); run it over row ranges (gpu.bindingRanges)`,
    );
    gpu.release(t, out, ids);
  });

  it("embedding forward and backward over 3 row ranges equal the reference bit for bit (vocab 1009, ids out of range too)", async () => {
    const gpu = await rangedGpu();
    const V = 1009, C = 24, N = 300;
    const table = randArray(V * C, 1), dout = randArray(N * C, 2);
    const ids = randInts(N, 3, V + 7); // a few ids >= V: zeros forward, no gradient
    ids[0] = 0; ids[1] = 415; ids[2] = 416; ids[3] = 831; ids[4] = 832; ids[5] = V - 1; // range edges
    const tt = gpu.upload(table, [V, C], "table"), ti = gpu.upload(ids, [N], "ids"), td = gpu.upload(dout, [N, C], "dout");
    const out = gpu.empty([N, C], "out"), dtable = gpu.zeros([V, C], "dtable");
    embeddingForward(gpu, out, tt, ti, { N, C, V });
    embeddingBackward(gpu, dtable, td, ti, { N, C, V, accumulate: true });
    const wantOut = new Float32Array(N * C), wantD = new Float32Array(V * C);
    embeddingForwardRef(wantOut, table, ids, N, C, V);
    embeddingBackwardRef(wantD, dout, ids, N, C, V);
    expectClose(await gpu.read(out), wantOut, 0, 0, "out");
    expectClose(await gpu.read(dtable), wantD, 0, 0, "dtable");
    gpu.release(tt, ti, td, out, dtable);
  });

  it("AdamW, grad scaling and the f16 refresh over ranges equal the whole-binding device bit for bit; the norm agrees to fp32 rounding", async () => {
    const [whole, ranged] = [await testGpu(), await rangedGpu()];
    const n = 25_013; // 100,052 bytes: 3 ranges of 9,984 floats
    const p0 = randArray(n, 4, -2, 2), g = randArray(n, 5);
    async function run(gpu: Gpu) {
      const p = gpu.upload(p0, [n], "p"), m = gpu.zeros([n], "m"), v = gpu.zeros([n], "v"), grad = gpu.upload(g, [n], "grad");
      const scale = gpu.upload(Float32Array.of(0.5), [1], "scale"), norm = gpu.zeros([1], "norm"), half = gpu.empty([n], "half", "f16");
      for (let t = 1; t <= 3; t++) adamwStep(gpu, p, m, v, grad, { t, lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, gradScale: scale });
      scaleGrads(gpu, [grad], scale);
      gradNorm(gpu, norm, [grad]);
      castToF16(gpu, half, p);
      const res = { p: await gpu.read(p), m: await gpu.read(m), grad: await gpu.read(grad), norm: (await gpu.read(norm))[0]!, half: new Uint16Array((await gpu.readU32(half)).buffer, 0, n) };
      gpu.release(p, m, v, grad, scale, norm, half);
      return res;
    }
    const a = await run(whole), b = await run(ranged);
    expectClose(b.p, a.p, 0, 0, "param");
    expectClose(b.m, a.m, 0, 0, "m");
    expectClose(b.grad, a.grad, 0, 0, "scaled grad");
    expect(Array.from(b.half)).toEqual(Array.from(toHalfBits(a.p)));
    let sq = 0;
    for (const x of a.grad) sq += x * x;
    expectClose([b.norm], [Math.sqrt(sq)], 0, 1e-6, "norm");
    expectClose([a.norm], [Math.sqrt(sq)], 0, 1e-6, "norm");
  });
});

describe("KernelError blame", () => {
  it("refuses a dispatch whose writable binding overlaps another, naming its kernel", async () => {
    const gpu = await testGpu();
    const V = 8, C = 4, N = 3;
    const t = gpu.zeros([V, C], "table"), ids = gpu.upload(new Uint32Array([1, 2, 3]), [N], "ids"), d = gpu.zeros([N, C], "dout");
    // A writable binding that overlaps a read-only one in the same dispatch: WebGPU forbids it,
    // and Dawn's message (at the end of the batch) names no dispatch. It is refused at the call.
    embeddingBackward(gpu, t, d, ids, { N, C, V, accumulate: true });
    expect(() => embeddingForward(gpu, t, t, ids, { N, C, V })).toThrow(
      "kernel 'embedding_forward_rows_vec4': validation error: writable binding 'out' ('table') overlaps binding 'table' ('table') of the same buffer",
    );
    await gpu.sync();
    gpu.release(t, ids, d);
  });

  it("names the kernel whose bind group Dawn rejected when later kernels share the batch", async () => {
    const gpu = await testGpu();
    const V = 8, C = 4, N = 3;
    const table = gpu.zeros([V, C], "table"), ids = gpu.upload(new Uint32Array([1, 2, 3]), [N], "ids"), out = gpu.zeros([N, C], "out");
    // A view past the end of its buffer: only Dawn can tell (the bind group is invalid).
    const past = new Tensor(table.buffer, [V, C], "f32", "table past its end", table.buffer.size);
    embeddingForward(gpu, out, table, ids, { N, C, V });
    embeddingForward(gpu, out, past, ids, { N, C, V });
    embeddingBackward(gpu, table, out, ids, { N, C, V, accumulate: true });
    const err = await gpu.sync().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).kernel).toBe("embedding_forward_rows_vec4"); // C = 4 on lavapipe: the per-row gather
    gpu.release(table, ids, out);
  });
});
