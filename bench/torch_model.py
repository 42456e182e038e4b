"""PyTorch baseline for the model benchmark: the same Llama-style decoder as acpo's presets
(config.json from `acpo init-model`), timed on the CPU.

usage: torch_model.py '{"config": {...}, "train": [B, T], "sample": [B, prompt, new], "seconds": s, "threads": n}'
prints one JSON line: training tokens/s, sampling tokens/s, threads (torch's and OpenBLAS's), torch version.
Training: forward, mean next-token cross-entropy, backward, clip_grad_norm_(1.0), AdamW.
Sampling: prefill with a KV cache, then one token per step with torch.multinomial.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F

from torch_blas import blas_threads, set_threads


class Block(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        C, Hq, Hkv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        self.D = c.get("head_dim") or C // Hq
        self.Hq, self.Hkv, self.eps = Hq, Hkv, c["rms_norm_eps"]
        self.ln1 = torch.nn.Parameter(torch.ones(C))
        self.ln2 = torch.nn.Parameter(torch.ones(C))
        self.q = torch.nn.Linear(C, Hq * self.D, bias=False)
        self.k = torch.nn.Linear(C, Hkv * self.D, bias=False)
        self.v = torch.nn.Linear(C, Hkv * self.D, bias=False)
        self.o = torch.nn.Linear(Hq * self.D, C, bias=False)
        self.gate = torch.nn.Linear(C, c["intermediate_size"], bias=False)
        self.up = torch.nn.Linear(C, c["intermediate_size"], bias=False)
        self.down = torch.nn.Linear(c["intermediate_size"], C, bias=False)

    def norm(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def forward(self, x, cos, sin, cache=None, start=0):
        B, T, _ = x.shape
        h = self.norm(x, self.ln1)
        q = self.q(h).view(B, T, self.Hq, self.D).transpose(1, 2)
        k = self.k(h).view(B, T, self.Hkv, self.D).transpose(1, 2)
        v = self.v(h).view(B, T, self.Hkv, self.D).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        if cache is not None:
            cache[0][:, :, start : start + T] = k
            cache[1][:, :, start : start + T] = v
            k, v = cache[0][:, :, : start + T], cache[1][:, :, : start + T]
        rep = self.Hq // self.Hkv
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        # torch 1.13 (Debian's) predates scaled_dot_product_attention: the explicit form.
        scores = (q @ k.transpose(-1, -2)) / self.D**0.5
        if T > 1:
            S = k.shape[2]
            scores = scores.masked_fill(torch.ones(T, S, dtype=torch.bool).triu(S - T + 1), float("-inf"))
        att = torch.softmax(scores, -1) @ v
        x = x + self.o(att.transpose(1, 2).reshape(B, T, -1))
        h = self.norm(x, self.ln2)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), -1) * sin


class Model(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.emb = torch.nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.blocks = torch.nn.ModuleList(Block(c) for _ in range(c["num_hidden_layers"]))
        self.lnf = torch.nn.Parameter(torch.ones(c["hidden_size"]))
        D = self.blocks[0].D
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, D, 2).float() / D))
        ang = torch.arange(c["max_position_embeddings"]).float()[:, None] * inv[None]
        self.cos, self.sin = torch.cat((ang, ang), -1).cos(), torch.cat((ang, ang), -1).sin()

    def forward(self, ids, caches=None, start=0):
        T = ids.shape[1]
        cos, sin = self.cos[start : start + T], self.sin[start : start + T]
        x = self.emb(ids)
        for i, b in enumerate(self.blocks):
            x = b(x, cos, sin, None if caches is None else caches[i], start)
        x = self.blocks[0].norm(x, self.lnf)
        return x @ self.emb.weight.T  # tied head, as the presets


def timed(fn, seconds):
    fn()
    times, t_end = [], time.perf_counter() + seconds
    while len(times) < 3 or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def main():
    args = json.loads(sys.argv[1])
    c = args["config"]
    set_threads(args.get("threads", 1))
    torch.manual_seed(0)
    model = Model(c)
    out = {"threads": torch.get_num_threads(), "blas_threads": blas_threads(), "version": torch.__version__}
    B, T = args["train"]
    ids = torch.randint(0, c["vocab_size"], (B, T + 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_step():
        opt.zero_grad()
        logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    out["train_tokens_per_s"] = B * T / timed(train_step, args["seconds"])
    SB, P, NEW = args["sample"]
    prompt = torch.randint(0, c["vocab_size"], (SB, P))
    blk = model.blocks[0]

    @torch.no_grad()
    def sample():
        caches = [(torch.empty(SB, blk.Hkv, P + NEW, blk.D), torch.empty(SB, blk.Hkv, P + NEW, blk.D)) for _ in model.blocks]
        logits = model(prompt, caches, 0)[:, -1]
        for i in range(NEW):
            tok = torch.multinomial(torch.softmax(logits, -1), 1)
            if i + 1 < NEW:
                logits = model(tok, caches, P + i)[:, -1]

    out["sample_tokens_per_s"] = SB * NEW / timed(sample, args["seconds"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
