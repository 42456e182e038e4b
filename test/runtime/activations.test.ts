import { describe, expect, it } from "vitest";
import type { Gpu } from "../../runtime/engine/gpu.js";
import type { Kernel } from "../../runtime/engine/kernel.js";
import type { Tensor } from "../../runtime/engine/tensor.js";
import {
  geluBackward,
  geluForward,
  siluBackward,
  siluForward,
  swigluBackward,
  swigluForward,
} from "../../runtime/engine/ops/activations.js";
import * as ref from "../../runtime/engine/ops/activations.ref.js";
import { FLAT_INDEX, GRID_PARAMS, grid1d } from "../../runtime/engine/ops/grid.js";
import { WGSL_ERF, WGSL_TANH } from "../../runtime/engine/ops/wgsl-math.js";
import { erf64, erfc64 } from "../../runtime/engine/ops/wgsl-math.ref.js";
import { testGpu } from "../helpers/gpu.js";
import { dot, expectClose, f64, finiteDiff, randArray } from "../helpers/numeric.js";

/** Values where overflow, saturation, denormals and NaN live. */
const EDGE = new Float32Array([
  -Infinity, -3.4e38, -1e20, -1e13, -1e4, -100, -89, -88, -20, -5.5, -1, -1e-3, -1e-30, -1e-45, -0, 0,
  1e-45, 1e-30, 1e-3, 1, 5.5, 20, 88, 89, 100, 1e4, 1e13, 1e20, 3.4e38, Infinity, NaN,
]);

function helperKernel(): Kernel {
  return {
    name: "test_wgsl_math",
    bindings: [
      { name: "erf_out", access: "read_write" },
      { name: "erfc_out", access: "read_write" },
      { name: "tanh_out", access: "read_write" },
      { name: "x", access: "read" },
    ],
    uniforms: [{ name: "n", type: "u32" }],
    workgroupSize: [64, 1, 1],
    body: /* wgsl */ `
${WGSL_ERF}
${WGSL_TANH}
fn main(${GRID_PARAMS}) {
  let i = ${FLAT_INDEX(64)};
  if (i >= u.n) { return; }
  erf_out[i] = erf_f32(x[i]);
  erfc_out[i] = erfc_f32(x[i]);
  tanh_out[i] = tanh_safe(x[i]);
}`,
  };
}

async function runHelpers(gpu: Gpu, x: Float32Array) {
  const n = x.length, tx = gpu.upload(x);
  const e = gpu.empty([n]), ec = gpu.empty([n]), t = gpu.empty([n]);
  gpu.dispatch(helperKernel(), [e, ec, t, tx], { n }, grid1d(n, 64));
  const res = { erf: await gpu.read(e), erfc: await gpu.read(ec), tanh: await gpu.read(t) };
  gpu.release(tx, e, ec, t);
  return res;
}

/** Max |got - want| / (|want| + floor) over finite references. */
function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>, floor = 0): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!) / (Math.abs(want[i]!) + floor));
  return m;
}

describe("wgsl-math helpers", () => {
  it("erf and tanh_safe are accurate to 1e-6 against float64, erfc to 1e-6 + exp's error", async () => {
    const gpu = await testGpu();
    const x = new Float32Array(4001);
    for (let i = 0; i < x.length; i++) x[i] = -10 + (20 * i) / (x.length - 1);
    const got = await runHelpers(gpu, x);
    const erf = Float64Array.from(x, erf64), erfc = Float64Array.from(x, erfc64), tanh = Float64Array.from(x, Math.tanh);
    const errErf = maxRelErr(got.erf, erf, 1e-30);
    const errErfAbs = maxRelErr(got.erf, erf, 1); // ~absolute error
    // erfc's tail inherits exp's error, which WGSL allows to grow as 3 + 2|arg| ulp (lavapipe:
    // ~1e-7 |arg|), so its relative error is bounded by 1e-6 + 2e-7 x^2 rather than a constant.
    // Past x = 9 erfc is below FLT_MIN (denormals may flush to 0).
    let errErfc = 0;
    for (let i = 0; i < x.length; i++) {
      if (x[i]! < 9) errErfc = Math.max(errErfc, Math.abs(got.erfc[i]! - erfc[i]!) / erfc[i]! / (1e-6 + 2e-7 * x[i]! ** 2));
    }
    const errTanh = maxRelErr(got.tanh, tanh, 1e-30);
    console.log(`wgsl-math on ${gpu.info.device}: erf rel ${errErf.toExponential(2)} abs ${errErfAbs.toExponential(2)}, erfc rel / (1e-6 + 2e-7 x^2) ${errErfc.toFixed(2)}, tanh rel ${errTanh.toExponential(2)}`);
    expect(errErf).toBeLessThan(1e-6);
    expect(errErfc).toBeLessThan(1);
    expect(errTanh).toBeLessThan(1e-6);
  });

  it("helpers saturate at large |x| and propagate NaN", async () => {
    const gpu = await testGpu();
    const got = await runHelpers(gpu, EDGE);
    EDGE.forEach((x, i) => {
      if (Number.isNaN(x)) {
        expect(Number.isNaN(got.erf[i]) && Number.isNaN(got.erfc[i]) && Number.isNaN(got.tanh[i])).toBe(true);
        return;
      }
      const a = Math.abs(x);
      expect(Math.abs(got.erf[i]! - erf64(x)), `erf(${x})`).toBeLessThanOrEqual(1e-7 * Math.abs(erf64(x)) + 1e-38);
      expect(Math.abs(got.erfc[i]! - erfc64(x)), `erfc(${x})`).toBeLessThanOrEqual(2e-6 * erfc64(x) + (a > 9 ? 1e-37 : 0));
      expect(Math.abs(got.tanh[i]! - Math.tanh(x)), `tanh(${x})`).toBeLessThanOrEqual(1e-7 * Math.abs(Math.tanh(x)) + 1e-38);
    });
  });
});

interface Outputs {
  silu: Float32Array | Float64Array; dsilu: Float32Array | Float64Array;
  swiglu: Float32Array | Float64Array; dgate: Float32Array | Float64Array; dup: Float32Array | Float64Array;
  gelu: Float32Array | Float64Array; dgelu: Float32Array | Float64Array;
  geluTanh: Float32Array | Float64Array; dgeluTanh: Float32Array | Float64Array;
}

/** Every activation forward and backward on the GPU: x is also SwiGLU's gate, y its up. */
async function runGpu(gpu: Gpu, x: Float32Array, y: Float32Array, dout: Float32Array): Promise<Outputs> {
  const n = x.length;
  const tx = gpu.upload(x), ty = gpu.upload(y), td = gpu.upload(dout);
  const names = ["silu", "dsilu", "swiglu", "dgate", "dup", "gelu", "dgelu", "geluTanh", "dgeluTanh"] as const;
  const t = Object.fromEntries(names.map((k) => [k, gpu.empty([n], k)])) as Record<keyof Outputs, Tensor>;
  siluForward(gpu, t.silu, tx);
  siluBackward(gpu, t.dsilu, td, tx);
  swigluForward(gpu, t.swiglu, tx, ty);
  swigluBackward(gpu, t.dgate, t.dup, td, tx, ty);
  geluForward(gpu, t.gelu, tx);
  geluBackward(gpu, t.dgelu, td, tx);
  geluForward(gpu, t.geluTanh, tx, { approximate: "tanh" });
  geluBackward(gpu, t.dgeluTanh, td, tx, { approximate: "tanh" });
  const res = {} as Outputs;
  for (const k of names) res[k] = await gpu.read(t[k]);
  gpu.release(tx, ty, td, ...Object.values(t));
  return res;
}

function runRef(x: ArrayLike<number>, y: ArrayLike<number>, dout: ArrayLike<number>): Outputs {
  const fx = f64(x), fy = f64(y), fd = f64(dout), n = fx.length;
  const o = () => new Float64Array(n);
  const res: Outputs = { silu: o(), dsilu: o(), swiglu: o(), dgate: o(), dup: o(), gelu: o(), dgelu: o(), geluTanh: o(), dgeluTanh: o() };
  ref.siluForwardRef(res.silu, fx);
  ref.siluBackwardRef(res.dsilu, fd, fx);
  ref.swigluForwardRef(res.swiglu, fx, fy);
  ref.swigluBackwardRef(res.dgate, res.dup, fd, fx, fy);
  ref.geluForwardRef(res.gelu, fx);
  ref.geluBackwardRef(res.dgelu, fd, fx);
  ref.geluForwardRef(res.geluTanh, fx, "tanh");
  ref.geluBackwardRef(res.dgeluTanh, fd, fx, "tanh");
  return res;
}

function expectAllClose(got: Outputs, want: Outputs, atol = 1e-6, rtol = 2e-5): void {
  for (const k of Object.keys(want) as (keyof Outputs)[]) expectClose(got[k], want[k], atol, rtol, k);
}

describe("activations", () => {
  const sizes: [number, number][] = [];
  for (const N of [1, 37]) for (const F of [1, 3, 257, 1000]) sizes.push([N, F]);

  it.each(sizes)("GPU matches the reference forward and backward for N=%i F=%i", async (N, F) => {
    const gpu = await testGpu();
    const n = N * F;
    const x = randArray(n, n, -8, 8), y = randArray(n, n + 1, -2, 2), dout = randArray(n, n + 2);
    expectAllClose(await runGpu(gpu, x, y, dout), runRef(x, y, dout));
  });

  it("edge values: saturation without overflow, limits at +-inf, NaN in gives NaN out", async () => {
    const gpu = await testGpu();
    const n = EDGE.length, ones = new Float32Array(n).fill(1);
    const got = await runGpu(gpu, EDGE, ones, ones);
    expectAllClose(got, runRef(EDGE, ones, ones));
    const at = (x: number) => EDGE.indexOf(Math.fround(x));
    for (const k of Object.keys(got) as (keyof Outputs)[]) {
      EDGE.forEach((x, i) => expect(Number.isNaN(got[k][i]), `${k}(${x})`).toBe(Number.isNaN(x)));
    }
    // Saturated ends: the activation is x or 0, its derivative 1 or 0.
    for (const x of [1e4, 89, 1e20, 3.4e38, Infinity]) {
      for (const k of ["silu", "gelu", "geluTanh"] as const) expect(got[k][at(x)], `${k}(${x})`).toBe(Math.fround(x));
      for (const k of ["dsilu", "dgelu", "dgeluTanh"] as const) expect(got[k][at(x)], `${k}(${x})`).toBe(1);
    }
    for (const x of [-1e4, -1e20, -3.4e38, -Infinity]) {
      for (const k of ["silu", "gelu", "geluTanh", "dsilu", "dgelu", "dgeluTanh"] as const) expect(got[k][at(x)], `${k}(${x})`).toBe(0);
    }
    for (const k of ["gelu", "geluTanh"] as const) expect(Math.abs(got[k][at(-89)]!), `${k}(-89)`).toBe(0);
  });

  it("references match known values (from Python's math.erf/tanh) and HF's formulas", () => {
    expectClose([ref.geluErf(1), ref.geluErf(-1), ref.geluErf(2.5)], [0.8413447460685429, -0.15865525393145707, 2.4844758366855597], 0, 1e-14);
    expectClose([ref.geluTanh(1), ref.geluTanh(-1), ref.geluTanh(2.5)], [0.8411919906082768, -0.15880800939172324, 2.484915733910001], 0, 1e-14);
    expectClose([ref.silu(1), ref.silu(-0.3)], [0.7310585786300049, -0.1276672449565023], 0, 1e-14);
    // x * sigmoid(2u) is 0.5 x (1 + tanh u), the form HF writes ("gelu_pytorch_tanh").
    for (let x = -4; x <= 4; x += 0.125) {
      const u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3);
      expectClose([ref.geluTanh(x)], [0.5 * x * (1 + Math.tanh(u))], 1e-15, 1e-9, `gelu_tanh(${x})`);
    }
  });

  it("reference backward matches float64 finite differences", () => {
    const x = f64([...randArray(40, 90, -6, 6), 0, 0.5, -0.5, 3, -3, 1e-3]);
    const y = f64(randArray(x.length, 91, -2, 2)), dout = f64(randArray(x.length, 92));
    const n = x.length, out = new Float64Array(n), grad = new Float64Array(n), grad2 = new Float64Array(n);
    const unary: [string, (o: Float64Array, x: Float64Array) => void, (d: Float64Array, g: Float64Array, x: Float64Array) => void][] = [
      ["silu", ref.siluForwardRef, ref.siluBackwardRef],
      ["gelu", (o, v) => ref.geluForwardRef(o, v), (d, g, v) => ref.geluBackwardRef(d, g, v)],
      ["gelu_tanh", (o, v) => ref.geluForwardRef(o, v, "tanh"), (d, g, v) => ref.geluBackwardRef(d, g, v, "tanh")],
    ];
    for (const [name, fwd, bwd] of unary) {
      const loss = () => (fwd(out, x), dot(out, dout));
      bwd(grad, dout, x);
      expectClose(grad, finiteDiff(loss, x), 1e-8, 1e-6, `${name} dx vs FD`);
    }
    const loss = () => (ref.swigluForwardRef(out, x, y), dot(out, dout));
    ref.swigluBackwardRef(grad, grad2, dout, x, y);
    expectClose(grad, finiteDiff(loss, x), 1e-8, 1e-6, "swiglu dgate vs FD");
    expectClose(grad2, finiteDiff(loss, y), 1e-8, 1e-6, "swiglu dup vs FD");
  });
});
