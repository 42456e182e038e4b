"""PyTorch CPU matmul baseline for `npm run bench` (bench/lib/torch.ts runs it).

argv[1]: JSON {"shapes": [{"m","n","k","transA","transB"}], "seconds": s, "threads": n}.
Prints one JSON line: {"gflops": [...], "threads": n, "blas_threads": n, "version": v}. Each figure is the
median over repetitions of one product after a warm-up, like the GPU figures. Transposed
operands are transposed views, so BLAS reads them in place as the GPU kernels do.
"""
import json
import sys
import time

import torch

from torch_blas import blas_threads, set_threads


def bench(m, n, k, trans_a, trans_b, seconds):
    a = torch.randn(k, m) if trans_a else torch.randn(m, k)
    b = torch.randn(n, k) if trans_b else torch.randn(k, n)
    a_op = a.t() if trans_a else a
    b_op = b.t() if trans_b else b
    out = torch.empty(m, n)
    torch.matmul(a_op, b_op, out=out)  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        torch.matmul(a_op, b_op, out=out)
        times.append(time.perf_counter() - t0)
    times.sort()
    return 2.0 * m * n * k / times[len(times) // 2] / 1e9


def main():
    args = json.loads(sys.argv[1])
    set_threads(args.get("threads", 1))
    gflops = [bench(s["m"], s["n"], s["k"], s["transA"], s["transB"], args["seconds"]) for s in args["shapes"]]
    print(json.dumps({"gflops": gflops, "threads": torch.get_num_threads(), "blas_threads": blas_threads(), "version": torch.__version__}))


if __name__ == "__main__":
    main()
