"""Runtime of acpo's PyTorch back end (compiler/torch/ in the acpo repository).

Generated stage modules evaluate the IR graph node by node; this module holds what every
one of them shares: the batch layout (which element of a level lies in which unit of a
coarser one), broadcasts, segmented reductions, the IR's elementwise ops where PyTorch's
built-ins differ from the IR's meaning at ties or non-finite values, and the per-token
random numbers. The meaning of every op is the float64 interpreter's
(compiler/interpret/eval.ts); the tests run this code against it.

Shapes per level: scalar and batch 0-dim, group (G,), sequence (B,), step (B, S),
token (B, T). Booleans are 0/1 numbers in the batch's float dtype. Reductions visit only
valid elements: response tokens (step_idx >= 0) and steps with step_length > 0.
Autograd flows through every op except `detach`, so d(loss)/d(logp) is PyTorch's.
"""

import torch

COARSE = ("scalar", "batch")


class Layout:
    """Where each element of each level lies, for one batch."""

    def __init__(self, x):
        self.step_idx = x["step_idx"].long()  # (B, T) the token's step, -1 outside the response
        self.B, self.T = self.step_idx.shape
        self.step_length = x["step_length"]  # (B, S)
        self.S = self.step_length.shape[1]
        self.group = x["group"].long()  # (B,) group id in [0, G)
        self.G = int(x["n_groups"])
        self.dtype = self.step_length.dtype  # the float dtype every value is computed in
        self.device = self.step_length.device
        self.tok_valid = self.step_idx >= 0
        self.step_valid = self.step_length > 0

    def shape(self, level):
        return {
            "scalar": (), "batch": (), "group": (self.G,), "sequence": (self.B,),
            "step": (self.B, self.S), "token": (self.B, self.T),
        }[level]

    def scalar(self, v):
        return torch.tensor(float(v), dtype=self.dtype, device=self.device)

    def num(self, b):
        """A bool tensor as the IR's 0/1 numbers."""
        return b.to(self.dtype)

    # ---- inputs that are functions of the layout ----

    def position(self):
        """0-based index of each token among its response's tokens (cumulative count)."""
        v = self.num(self.tok_valid)
        return torch.cumsum(v, 1) - v

    def step_index(self):
        return torch.arange(self.S, device=self.device, dtype=self.dtype).expand(self.B, self.S)

    def rand(self, seed):
        """Uniform [0, 1) per token from the u32 seed: the PCG hash of compiler/interpret/rand.ts."""
        n = torch.arange(self.B * self.T, device=self.device, dtype=torch.int64)
        h = pcg_hash((n + pcg_hash(torch.tensor(int(seed) & 0xFFFFFFFF, dtype=torch.int64))) & 0xFFFFFFFF)
        return ((h >> 8).to(self.dtype) / 16777216.0).reshape(self.B, self.T)

    # ---- broadcasts ----

    def bcast(self, x, frm, to):
        """`x` at level `frm` repeated at each element of the finer level `to`.

        Elements outside the batch's content (padding tokens, unused step slots) get 0:
        the interpreter's values there are never observed, and a 0 there keeps NaN out of
        autograd, whose adjoint of a broadcast would otherwise sum over them (the IR's
        adjoint sums over valid elements only).
        """
        if frm in COARSE:
            y = x.expand(self.shape(to))
        elif frm == "group":
            y = x[self.group]
            if to != "sequence":
                y = y[:, None].expand(self.shape(to))
        elif frm == "sequence":
            y = x[:, None].expand(self.shape(to))
        else:  # step -> token
            y = torch.gather(x, 1, self.step_idx.clamp(min=0))
        return self.only_valid(y, to)

    def only_valid(self, y, level):
        if level == "token":
            return torch.where(self.tok_valid, y, torch.zeros_like(y))
        if level == "step":
            return torch.where(self.step_valid, y, torch.zeros_like(y))
        return y

    # ---- reductions ----

    def units(self, frm, to):
        """Flat unit index (into `to`) and validity of each element of `frm`, and the unit count."""
        if to in COARSE:
            n = 1
            for d in self.shape(frm):
                n *= d
            unit = torch.zeros(n, dtype=torch.int64, device=self.device)
            count = 1
        elif to == "group":
            seq = self.group
            unit = seq if frm == "sequence" else seq[:, None].expand(self.shape(frm)).reshape(-1)
            count = self.G
        elif to == "sequence":
            unit = torch.arange(self.B, device=self.device)[:, None].expand(self.shape(frm)).reshape(-1)
            count = self.B
        else:  # token -> step
            rows = torch.arange(self.B, device=self.device)[:, None] * self.S
            unit = (rows + self.step_idx.clamp(min=0)).reshape(-1)
            count = self.B * self.S
        if frm == "token":
            valid = self.tok_valid.reshape(-1)
        elif frm == "step":
            valid = self.step_valid.reshape(-1)
        else:
            valid = torch.ones(self.shape(frm), dtype=torch.bool, device=self.device).reshape(-1)
        return unit, valid, count

    def scan(self, x, level, gamma, reverse):
        """Discounted prefix (or, reversed, suffix) sum along each response: SCAN in ops.ts.

        acc = gamma * acc + x over the response's valid elements in order; a loop over the
        token (or step) slots, so autograd differentiates the recurrence itself.
        """
        x = self.only_valid(x.expand(self.shape(level)), level)
        valid = self.tok_valid if level == "token" else self.step_valid
        cols = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
        acc = torch.zeros(x.shape[0], dtype=self.dtype, device=self.device)
        out = [None] * x.shape[1]
        for c in cols:
            acc = torch.where(valid[:, c], gamma * acc + x[:, c], acc)
            out[c] = acc
        return self.only_valid(torch.stack(out, 1), level)

    def reduce(self, fn, x, frm, to, ddof=0, q=None):
        """fn(x over each unit of `to`): see REDUCE in compiler/ir/ops.ts."""
        unit, valid, count = self.units(frm, to)
        mat, present, k = padded(x.expand(self.shape(frm)).reshape(-1), unit, valid, count)
        out = reduce_rows(fn, mat, present, k, ddof, q)
        return out.reshape(self.shape(to))


def padded(x, unit, valid, count):
    """The valid elements of `x` grouped by unit as a (count, K) matrix (NaN padding),
    which of its cells hold elements, and the element count per unit."""
    xs, us = x[valid], unit[valid]
    k = torch.bincount(us, minlength=count)
    order = torch.argsort(us, stable=True)
    us, xs = us[order], xs[order]
    start = torch.cumsum(k, 0) - k
    rank = torch.arange(us.numel(), device=x.device) - start[us]
    width = max(int(k.max().item()) if count > 0 else 0, 1)
    mat = torch.full((count, width), float("nan"), dtype=x.dtype, device=x.device).index_put((us, rank), xs)
    present = torch.zeros((count, width), dtype=torch.bool, device=x.device).index_put((us, rank), torch.ones_like(us, dtype=torch.bool))
    return mat, present, k.to(x.dtype)


def reduce_rows(fn, mat, present, k, ddof, q):
    zero = torch.zeros_like(mat)
    nan = torch.full_like(k, float("nan"))
    if fn == "sum":
        return torch.where(present, mat, zero).sum(1)
    if fn == "mean":
        return torch.where(present, mat, zero).sum(1) / k  # 0 / 0 = NaN for an empty unit
    if fn in ("min", "max"):
        has_nan = (torch.isnan(mat) & present).any(1)
        fill = float("inf") if fn == "min" else float("-inf")
        m = torch.where(present, mat, torch.full_like(mat, fill))
        r = m.amin(1) if fn == "min" else m.amax(1)
        return torch.where(has_nan | (k == 0), nan, r)
    if fn == "std":
        mu = torch.where(present, mat, zero).sum(1) / k
        d = torch.where(present, mat - mu[:, None], zero)
        return torch.sqrt((d * d).sum(1) / (k - ddof))
    if fn == "quantile":
        # NaN sorts last, padding (also NaN) after the unit's own values.
        s = torch.sort(mat, 1).values
        pos = q * (k - 1)
        lo = torch.floor(pos)
        hi = torch.minimum(torch.ceil(pos), k - 1)
        li = lo.clamp(min=0).long()[:, None]
        hi_i = hi.clamp(min=0).long()[:, None]
        s_lo = torch.gather(s, 1, li)[:, 0]
        s_hi = torch.gather(s, 1, hi_i)[:, 0]
        r = torch.where(hi == lo, s_lo, s_lo + (s_hi - s_lo) * (pos - lo))
        return torch.where(k == 0, nan, r)
    raise ValueError(f"IR: unknown reduction {fn}")


# ---- elementwise ops whose PyTorch built-ins mean something else ----

def vmin(a, b):
    """min(a, b): NaN if either is NaN; ties take `a`, so autograd matches the IR's rule."""
    r = torch.where(a <= b, a, b)
    return torch.where(torch.isnan(a) | torch.isnan(b), torch.full_like(r, float("nan")), r)


def vmax(a, b):
    r = torch.where(a >= b, a, b)
    return torch.where(torch.isnan(a) | torch.isnan(b), torch.full_like(r, float("nan")), r)


def vpow(a, b):
    """a ** b as JavaScript computes it: 1 ** NaN and (+-1) ** +-inf are NaN (C's pow gives 1)."""
    r = torch.pow(a, b)
    odd = torch.isnan(b) | ((torch.abs(a) == 1) & torch.isinf(b))
    return torch.where(odd, torch.full_like(r, float("nan")), r)


def vsigmoid(x):
    return 1 / (1 + torch.exp(-x))


def vsel(c, a, b):
    return torch.where(c != 0, a, b)


def pcg_hash(v):
    """PCG hash on u32 values held in int64 (products stay below 2^62)."""
    state = (v * 747796405 + 2891336453) & 0xFFFFFFFF
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & 0xFFFFFFFF
    return ((word >> 22) ^ word) & 0xFFFFFFFF
