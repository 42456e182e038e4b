"""PyTorch baseline for the Qwen-shaped benchmark (bench/suites/qwen-shaped.ts): a Qwen2
decoder (torch_model.py's Llama-style blocks with the q/k/v biases Qwen2 has, tied
embeddings) timed on the CPU, one measurement per process so that the peak RSS it reports
belongs to that measurement alone.

usage: torch_qwen.py '{"config": {...}, "mode": "train" | "sample" | "head", "reps": r, "threads": n, ...}'
  train:  "train": [B, T]              forward, mean next-token cross-entropy over the full
                                       (B*T, V) logits, backward, clip_grad_norm_(1.0), AdamW
  sample: "sample": [P, prompt, new]   prefill P prompts into a KV cache, then `new` tokens
                                       one step at a time with torch.multinomial
  head:   "head": N                    the LM head alone on (N, C) hidden rows: logits (N, V),
                                       cross-entropy, backward into the hidden rows and the
                                       head weight (what acpo streams in chunks)
Each mode runs once untimed (warm-up, AdamW state), then `reps` timed repetitions.
Prints one JSON line: tokens/s (or seconds per head pass), peak RSS (ru_maxrss) and the RSS
before the measured work (after the model is built), threads, torch version.
"""
import json
import resource
import sys
import time

import torch
import torch.nn.functional as F

from torch_blas import blas_threads, set_threads
from torch_model import Model


def rss_bytes():
    """Resident set size now (/proc/self/statm, pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def qwen2(c):
    """torch_model.Model with Qwen2's attention biases on q, k and v (o_proj has none)."""
    model = Model(c)
    C = c["hidden_size"]
    for b in model.blocks:
        b.q = torch.nn.Linear(C, b.Hq * b.D, bias=True)
        b.k = torch.nn.Linear(C, b.Hkv * b.D, bias=True)
        b.v = torch.nn.Linear(C, b.Hkv * b.D, bias=True)
    return model


def median_seconds(fn, reps):
    fn()
    times = []
    for _ in range(max(1, reps)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def train(model, c, B, T, reps):
    ids = torch.randint(0, c["vocab_size"], (B, T + 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad()
        logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return {"tokens_per_s": B * T / median_seconds(step, reps)}


def sample(model, c, P, prompt_len, new, reps):
    prompt = torch.randint(0, c["vocab_size"], (P, prompt_len))
    blk = model.blocks[0]

    @torch.no_grad()
    def run():
        caches = [(torch.empty(P, blk.Hkv, prompt_len + new, blk.D), torch.empty(P, blk.Hkv, prompt_len + new, blk.D)) for _ in model.blocks]
        logits = model(prompt, caches, 0)[:, -1]
        for i in range(new):
            tok = torch.multinomial(torch.softmax(logits, -1), 1)
            if i + 1 < new:
                logits = model(tok, caches, prompt_len + i)[:, -1]

    return {"tokens_per_s": P * new / median_seconds(run, reps)}


def head(model, c, N, reps):
    hidden = torch.randn(N, c["hidden_size"], requires_grad=True)
    targets = torch.randint(0, c["vocab_size"], (N,))
    W = model.emb.weight

    def run():
        W.grad = None
        hidden.grad = None
        loss = F.cross_entropy(hidden @ W.T, targets)
        loss.backward()

    return {"seconds": median_seconds(run, reps)}


def main():
    args = json.loads(sys.argv[1])
    c = args["config"]
    set_threads(args.get("threads", 1))
    torch.manual_seed(0)
    model = qwen2(c)
    out = {"threads": torch.get_num_threads(), "blas_threads": blas_threads(), "version": torch.__version__, "params": sum(p.numel() for p in model.parameters())}
    out["rss_before"] = rss_bytes()
    mode, reps = args["mode"], args.get("reps", 1)
    if mode == "train":
        out.update(train(model, c, *args["train"], reps))
    elif mode == "sample":
        out.update(sample(model, c, *args["sample"], reps))
    elif mode == "head":
        out.update(head(model, c, args["head"], reps))
    else:
        raise SystemExit(f"torch_qwen.py: unknown mode {mode!r} (train, sample or head)")
    out["peak_rss"] = peak_rss_bytes()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
