// Shared correctness cases for matmul schedules: irregular sizes, all four layouts, batches
// with a shared (stride 0) operand, alpha / beta / bias, and inf / NaN / overflow inputs.
// Split over two test files so that each compiles only some schedules' pipelines (seconds
// each on lavapipe with a cold shader cache).
import { describe, expect, it } from "vitest";
import { type MatmulVariant, matmul } from "../../runtime/engine/ops/matmul.js";
import { matmulRef } from "../../runtime/engine/ops/matmul.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { expectClose, randArray } from "../helpers/numeric.js";

const LAYOUTS = [
  { transA: false, transB: false },
  { transA: false, transB: true },
  { transA: true, transB: false },
  { transA: true, transB: true },
];
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [33, 65, 17],
  [129, 31, 257],
  [9, 300, 3], // wider than one register-scalar workgroup (256 columns)
  // Multiples of 4 take the register schedule's vec4 path; edges still cut through its tiles.
  [4, 4, 4],
  [36, 68, 20],
  [12, 260, 8],
  // At least 32 rows: the subgroup form's 32-row tiles, cut by the edges in both directions.
  [68, 36, 28],
];
const lname = (l: { transA: boolean; transB: boolean }): string => `${l.transA ? "T" : "N"}${l.transB ? "T" : "N"}`;

/** The correctness suite every schedule must pass; each test file runs it for some schedules. */
export function scheduleSuite(variants: readonly MatmulVariant[]): void {
describe.each(variants)("matmul variant %s", (variant) => {
  it.each(LAYOUTS.map((l) => [lname(l), l] as const))("matches the reference on irregular shapes, layout %s", async (_, layout) => {
    const gpu = await testGpu();
    let seed = 10;
    for (const [M, N, K] of SHAPES) {
      const a = randArray(M * K, seed++), b = randArray(K * N, seed++);
      const ta = gpu.upload(a), tb = gpu.upload(b), out = gpu.empty([M, N]);
      matmul(gpu, out, ta, tb, { M, N, K, ...layout, variant });
      const ref = new Float32Array(M * N);
      matmulRef(ref, a, b, { M, N, K, ...layout });
      expectClose(await gpu.read(out), ref, 2e-6 * K, 1e-5, `${variant} ${lname(layout)} ${M}x${N}x${K}`);
      gpu.release(ta, tb, out);
    }
  });

  it("batches with a shared weight (stride 0), alpha, beta and bias", async () => {
    const gpu = await testGpu();
    for (const [[batch, M, N, K], layout] of [
      [[3, 10, 19, 23], LAYOUTS[0]!],
      [[3, 10, 19, 23], LAYOUTS[3]!],
      [[2, 12, 20, 8], LAYOUTS[1]!], // vec4-aligned
      [[2, 12, 20, 8], LAYOUTS[2]!],
      [[2, 36, 20, 8], LAYOUTS[2]!], // 32-row subgroup tiles
    ] as const) {
      const a = randArray(batch * M * K, 1), w = randArray(K * N, 2), bias = randArray(N, 3), c0 = randArray(batch * M * N, 4);
      const args = { M, N, K, batch, ...layout, strideB: 0, alpha: 0.5, beta: 1 };
      const out = gpu.upload(c0), ta = gpu.upload(a), tw = gpu.upload(w), tbias = gpu.upload(bias);
      matmul(gpu, out, ta, tw, { ...args, bias: tbias, variant });
      const ref = Float32Array.from(c0);
      matmulRef(ref, a, w, { ...args, bias });
      expectClose(await gpu.read(out), ref, 1e-4, 1e-5, `${variant} ${lname(layout)} batched`);
      gpu.release(out, ta, tw, tbias);
    }
  });

  it.each([[5, 11, 6], [5, 12, 8]])("propagates inf and NaN, overflows to inf, and never reads out when beta = 0 (%i x %i x %i)", async (M, N, K) => {
    const gpu = await testGpu();
    const a = randArray(M * K, 5), b = randArray(K * N, 6, 0.5, 1); // b > 0: signs of inf are known
    a[0 * K + 2] = NaN; // row 0 -> all NaN
    a[1 * K + 1] = Infinity; // row 1 -> +inf
    a[2 * K + 0] = -Infinity;
    a[2 * K + 3] = Infinity; // row 2 -> inf - inf = NaN
    for (let k = 0; k < K; k++) a[3 * K + k] = 3e19; // row 3: each product ~1e38..3e38, the sum overflows
    for (let k = 0; k < K; k++) a[4 * K + k] = 1e-30; // row 4: products underflow to 0
    for (let n = 0; n < N; n++) b[n] = n % 2 ? 2e19 : 1e-20;
    const out = gpu.upload(new Float32Array(M * N).fill(NaN)); // beta = 0 must ignore these
    matmul(gpu, out, gpu.upload(a), gpu.upload(b), { M, N, K, variant });
    const got = await gpu.read(out);
    const ref = new Float32Array(M * N);
    matmulRef(ref, a, b, { M, N, K });
    for (let n = 0; n < N; n++) {
      expect(Number.isNaN(got[0 * N + n])).toBe(true);
      expect(got[1 * N + n]).toBe(Infinity);
      expect(Number.isNaN(got[2 * N + n])).toBe(true);
    }
    expect(got[3 * N + 1]).toBe(Infinity);
    expectClose(got, ref, 1e-6, 1e-5, `${variant} edge values`);
  });
});
}
