// Plain-TypeScript references for matmul.ts: explicit loops, the definition every schedule
// is tested against. Sums are JavaScript numbers (float64); results round to the output
// array's precision.
import type { Arr } from "./ref-types.js";

export interface MatmulRefArgs {
  M: number;
  N: number;
  K: number;
  batch?: number;
  transA?: boolean;
  transB?: boolean;
  strideA?: number;
  strideB?: number;
  strideC?: number;
  alpha?: number;
  beta?: number;
  bias?: Arr | null;
}

export function matmulRef(
  out: Arr, // (batch, M, N)
  a: Arr, // (batch, M, K) or (batch, K, M) with transA
  b: Arr, // (batch, K, N) or (batch, N, K) with transB
  args: MatmulRefArgs,
): void {
  const { M, N, K, batch = 1, transA = false, transB = false, alpha = 1, beta = 0, bias = null } = args;
  const sA = args.strideA ?? M * K, sB = args.strideB ?? K * N, sC = args.strideC ?? M * N;
  for (let z = 0; z < batch; z++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          const av = a[z * sA + (transA ? k * M + m : m * K + k)]!;
          const bv = b[z * sB + (transB ? n * K + k : k * N + n)]!;
          acc += av * bv;
        }
        const i = z * sC + m * N + n;
        let r = alpha * acc;
        if (beta !== 0) r += beta * out[i]!;
        if (bias) r += bias[n]!;
        out[i] = r;
      }
    }
  }
}

export function sumRowsRef(out: Arr /* (N) */, x: Arr /* (M, N) */, M: number, N: number, accumulate = false): void {
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let m = 0; m < M; m++) s += x[m * N + n]!;
    out[n] = accumulate ? out[n]! + s : s;
  }
}

/** out = x @ weight^T + bias. */
export function linearForwardRef(
  out: Arr, // (N, OC)
  x: Arr, // (N, C)
  weight: Arr, // (OC, C)
  bias: Arr | null, // (OC)
  N: number, C: number, OC: number,
): void {
  for (let i = 0; i < N; i++) {
    for (let o = 0; o < OC; o++) {
      let s = bias ? bias[o]! : 0;
      for (let c = 0; c < C; c++) s += x[i * C + c]! * weight[o * C + c]!;
      out[i * OC + o] = s;
    }
  }
}

/** dx = dout @ weight, dweight (+)= dout^T @ x, dbias (+)= sum_rows(dout). */
export function linearBackwardRef(
  dx: Arr | null, // (N, C)
  dweight: Arr | null, // (OC, C)
  dbias: Arr | null, // (OC)
  dout: Arr, // (N, OC)
  x: Arr, // (N, C)
  weight: Arr, // (OC, C)
  N: number, C: number, OC: number,
  accumulate = false,
): void {
  if (dx) {
    for (let i = 0; i < N; i++) {
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let o = 0; o < OC; o++) s += dout[i * OC + o]! * weight[o * C + c]!;
        dx[i * C + c] = s;
      }
    }
  }
  if (dweight) {
    for (let o = 0; o < OC; o++) {
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let i = 0; i < N; i++) s += dout[i * OC + o]! * x[i * C + c]!;
        dweight[o * C + c] = accumulate ? dweight[o * C + c]! + s : s;
      }
    }
  }
  if (dbias) sumRowsRef(dbias, dout, N, OC, accumulate);
}

/** dA and dB of C = op(A) @ op(B), each in its operand's storage layout (dense batch strides). */
export function matmulBackwardRef(
  da: Arr | null, // (batch, M, K) or (batch, K, M) with transA
  db: Arr | null, // (batch, K, N) or (batch, N, K) with transB
  dc: Arr, // (batch, M, N)
  a: Arr,
  b: Arr,
  args: { M: number; N: number; K: number; batch?: number; transA?: boolean; transB?: boolean; accumulate?: boolean },
): void {
  const { M, N, K, batch = 1, transA = false, transB = false, accumulate = false } = args;
  const aAt = (z: number, m: number, k: number): number => z * M * K + (transA ? k * M + m : m * K + k);
  const bAt = (z: number, k: number, n: number): number => z * K * N + (transB ? n * K + k : k * N + n);
  for (let z = 0; z < batch; z++) {
    for (let m = 0; m < M; m++) {
      for (let k = 0; k < K; k++) {
        let sA = 0;
        for (let n = 0; n < N; n++) sA += dc[z * M * N + m * N + n]! * b[bAt(z, k, n)]!;
        if (da) da[aAt(z, m, k)] = accumulate ? da[aAt(z, m, k)]! + sA : sA;
      }
    }
    for (let k = 0; k < K; k++) {
      for (let n = 0; n < N; n++) {
        let sB = 0;
        for (let m = 0; m < M; m++) sB += a[aAt(z, m, k)]! * dc[z * M * N + m * N + n]!;
        if (db) db[bAt(z, k, n)] = accumulate ? db[bAt(z, k, n)]! + sB : sB;
      }
    }
  }
}
