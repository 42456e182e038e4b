"""Shared by the PyTorch baselines: set torch's threads and report OpenBLAS's."""
import ctypes

import torch


def set_threads(n):
    torch.set_num_threads(int(n))


def blas_threads():
    """openblas_get_num_threads() of the OpenBLAS torch links, or None when it is not OpenBLAS."""
    for name in ("libopenblas.so.0", "libopenblasp.so.0", "libblas.so.3"):
        try:
            return int(ctypes.CDLL(name).openblas_get_num_threads())
        except (OSError, AttributeError):
            continue
    return None
