"""PyTorch reference of acpo's GRPO step, to run beside `acpo train` and compare curves.

The same model folder (config.json + model.safetensors + tokenizer.json, read here without
transformers), the same countdown task (numbers, reachable targets under the classic rules,
the same train/test split hash), the same rollout (P prompts x G responses, temperature T,
up to max_tokens, stop at EOS) and the same update as examples/grpo.acpo:
  A = (r - mean_group(r)) / (std_group(r, ddof) + adv_eps)          per response
  loss_tok = -min(ratio A, clip(ratio, 1-eps_low, 1+eps_high) A) + kl * k3(ref, logp)
  k3 = exp(ref - logp) - (ref - logp) - 1, ref = the initial policy
  aggregate: seq_mean_token_mean (GRPO) or token_mean, then clip_grad_norm and AdamW at the
  plan's rate: a linear warm-up over warmup_steps, then constant, or a linear or cosine decay to 0
  at the run's last step (as acpo's lr-schedule.ts).
One optimizer step per rollout (ppo epochs 1, minibatches 1), so old log p = log p detached
(ratio 1, as TRL computes it). The update computes log p (policy and reference) as acpo's does:
each group's shared prompt runs through the layers once, each row only its own tokens, the LM head
on response slots only (--whole-rows: whole padded rows, each prompt once per row, same numbers).
Rewards come from the Python twin of acpo's countdown verifier (export/verl/python/verifiers.py),
character for character the same verdicts.

Settings: flags, or --plan DIR from `npx acpo compile FILE.acpo -o DIR` (model, seed, task,
rollout, optimizer, clip bounds, aggregate; the KL coefficient from the plan's param `beta`
when it has one). The advantage and KL estimator are GRPO's whatever the plan says.

Prompts are drawn from the same distribution and split as acpo's, with Python's own random
generator: not the same draws as an acpo run, and sampling noise differs too, so the curves
agree within noise, not token for token.

  /usr/bin/python3 scripts/torch_grpo_reference.py --plan PLAN_DIR --steps 10 --compare RUN_DIR

A decaying rate needs the run's length, as acpo's does: the --compare run's own step count (its
config.resolved.json), else --schedule-steps, else --steps (what `acpo train --steps N` uses).
  --json: one JSON line at the end (per-step metrics and timings; the benchmark reads it).

Shared-batch replay, to tell a difference in the update from one in the samples: no rollouts; the
update runs on exactly the trajectories of an acpo run (`acpo train ... --samples-per-step N` with
N >= prompts x group records every one), step after step from the run's initial weights, with the
run's own settings (its config.resolved.json), and prints per step how far torch's log p and
reference log p are from acpo's recorded ones, both losses, gradient norms (before clipping) and
KLs, and, where the run kept a checkpoint of that step, per tensor the update, weights and AdamW
moments against acpo's:

  /usr/bin/python3 scripts/torch_grpo_reference.py --replay RUN_DIR --steps 8

Run python with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset on Debian (bench/lib/torch.ts).
"""
import argparse
import json
import math
import os
import random
import re
import statistics
import struct
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "export", "verl"))
from python.verifiers import verify_countdown  # noqa: E402  (the verifier twin, a namespace package)


# ---------------------------------------------------------------- model folder

def read_safetensors(path):
    """{name: float32 tensor} from a safetensors file (F32 only, as acpo writes)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] != "F32":
            raise SystemExit(f"{path}: tensor {name} is {meta['dtype']}; this reference reads F32 only")
        a, b = meta["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(meta["shape"]).clone()
    return out


class CharTokenizer:
    """tokenizer.json of acpo's character-level models: a BPE vocabulary without merges, plus
    added tokens (words such as "First", "<answer>") matched first, leftmost-longest, as HF does."""

    def __init__(self, path):
        t = json.load(open(path))
        if t["model"].get("merges"):
            raise SystemExit(f"{path}: has BPE merges; this reference handles character-level tokenizers only")
        self.vocab = t["model"]["vocab"]
        self.inv = {i: s for s, i in self.vocab.items()}
        self.special = {a["id"] for a in t.get("added_tokens", []) if a.get("special")}
        self.bos = self.vocab.get("<bos>")
        self.eos = self.vocab["<eos>"]
        added = sorted((a["content"] for a in t.get("added_tokens", [])), key=len, reverse=True)
        self.added = re.compile("|".join(re.escape(a) for a in added)) if added else None
        self.added_ids = {a["content"]: a["id"] for a in t.get("added_tokens", [])}

    def encode(self, text):
        out, at = [], 0
        for m in (self.added.finditer(text) if self.added else []):
            out += self.chars(text[at:m.start()]) + [self.added_ids[m.group()]]
            at = m.end()
        return out + self.chars(text[at:])

    def chars(self, text):
        missing = sorted({c for c in text if c not in self.vocab})
        if missing:
            raise SystemExit(f"prompt has characters outside the vocabulary: {missing}")
        return [self.vocab[c] for c in text]

    def prompt_ids(self, text):
        return ([self.bos] if self.bos is not None else []) + self.encode(text)

    def decode(self, ids):
        return "".join(self.inv[i] for i in ids if i not in self.special)


class Decoder(torch.nn.Module):
    """Llama-style decoder (RMSNorm, RoPE, GQA, SwiGLU, tied head) with HF parameter names."""

    def __init__(self, c, weights):
        super().__init__()
        if not c.get("tie_word_embeddings", True) or "lm_head.weight" in weights:
            raise SystemExit("this reference expects tied embeddings (acpo's presets and countdown-tiny)")
        self.c = c
        self.C, self.Hq, self.Hkv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        self.D = c.get("head_dim") or self.C // self.Hq
        self.L, self.eps = c["num_hidden_layers"], c["rms_norm_eps"]
        self.p = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v) for k, v in weights.items()})
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, self.D, 2).float() / self.D))
        ang = torch.arange(c["max_position_embeddings"]).float()[:, None] * inv[None]
        self.cos, self.sin = torch.cat((ang, ang), -1).cos(), torch.cat((ang, ang), -1).sin()

    def w(self, name):
        return self.p[name.replace(".", "__")]

    def norm(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def forward(self, ids, pos, key_ok, cache=None, start=0, head=True, past=None, keep=None):
        """ids, pos (B, T); key_ok (B, S) bool: which key slots are real tokens. Logits (B, T, V),
        or with head=False the final-norm hidden states (B, T, C) for `logits_of` on chosen rows.
        With a cache (per layer (k, v), (B, Hkv, Smax, D)) the T new keys go to slots start..start+T.
        With `past` instead (per layer (k, v), (B, Hkv, start, D)) the T tokens attend to those keys
        first, joined by concatenation: the cache's in-place writes would break a backward through
        the keys, and the update's shared prefix needs its gradient. `keep`, a list, receives each
        layer's own keys and values (k after RoPE), (B, Hkv, T, D) each."""
        if cache is not None and past is not None:
            raise ValueError("Decoder.forward: give a cache (rollout) or past keys (update), not both")
        B, T = ids.shape
        if past is not None:
            start = past[0][0].shape[2]
        cos, sin = self.cos[pos][:, None], self.sin[pos][:, None]  # (B, 1, T, D)
        x = F.embedding(ids, self.w("model.embed_tokens.weight"))
        S = start + T
        causal = torch.ones(T, S, dtype=torch.bool).tril(start)  # query t sees keys <= start + t
        mask = causal[None, None] & key_ok[:, None, None, :S]
        for i in range(self.L):
            pre = f"model.layers.{i}."
            h = self.norm(x, self.w(pre + "input_layernorm.weight"))
            q = (h @ self.w(pre + "self_attn.q_proj.weight").T).view(B, T, self.Hq, self.D).transpose(1, 2)
            k = (h @ self.w(pre + "self_attn.k_proj.weight").T).view(B, T, self.Hkv, self.D).transpose(1, 2)
            v = (h @ self.w(pre + "self_attn.v_proj.weight").T).view(B, T, self.Hkv, self.D).transpose(1, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            if keep is not None:
                keep.append((k, v))
            if cache is not None:
                cache[i][0][:, :, start:S] = k
                cache[i][1][:, :, start:S] = v
                k, v = cache[i][0][:, :, :S], cache[i][1][:, :, :S]
            elif past is not None:
                k, v = torch.cat((past[i][0], k), 2), torch.cat((past[i][1], v), 2)
            rep = self.Hq // self.Hkv
            k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
            # torch 1.13 (Debian's) predates scaled_dot_product_attention: the explicit form.
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.D)
            # A finite floor, not -inf: a left-padding query sees only padding keys, and an all -inf
            # row would give NaN that the cache then carries into real rows (0 * NaN).
            att = torch.softmax(scores.masked_fill(~mask, torch.finfo(scores.dtype).min), -1) @ v
            x = x + att.transpose(1, 2).reshape(B, T, -1) @ self.w(pre + "self_attn.o_proj.weight").T
            h = self.norm(x, self.w(pre + "post_attention_layernorm.weight"))
            g = F.silu(h @ self.w(pre + "mlp.gate_proj.weight").T) * (h @ self.w(pre + "mlp.up_proj.weight").T)
            x = x + g @ self.w(pre + "mlp.down_proj.weight").T
        x = self.norm(x, self.w("model.norm.weight"))
        return self.logits_of(x) if head else x

    def logits_of(self, hidden):
        """The tied LM head on final-norm hidden states (..., C) -> (..., V)."""
        return hidden @ self.w("model.embed_tokens.weight").T


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), -1) * sin


def load_model(folder):
    c = json.load(open(os.path.join(folder, "config.json")))
    model = Decoder(c, read_safetensors(os.path.join(folder, "model.safetensors")))
    return model, CharTokenizer(os.path.join(folder, "tokenizer.json"))


# ---------------------------------------------------------------- countdown task (runtime/engine/tasks/countdown.ts)

def _imul(a, b):
    return (a * b) & 0xFFFFFFFF


def hash32(s, salt=0):
    """runtime/engine/tasks/rng.ts hash32: FNV-1a over UTF-16 code units, then a murmur3 finaliser."""
    h = (0x811C9DC5 ^ salt) & 0xFFFFFFFF
    b = s.encode("utf-16-le")
    for i in range(0, len(b), 2):
        h = _imul(h ^ (b[i] | (b[i + 1] << 8)), 0x01000193)
    h ^= h >> 16
    h = _imul(h, 0x85EBCA6B)
    h ^= h >> 13
    h = _imul(h, 0xC2B2AE35)
    h ^= h >> 16
    return h


SPLIT_SALT = 0x5EED5911


def split_of(key, test_fraction):
    return "test" if hash32(key, SPLIT_SALT) / 4294967296 < test_fraction else "train"


def reachable(nums):
    """Values reachable using every number once, intermediates positive integers (the solver's rules)."""
    found = set()

    def search(items):
        if len(items) == 1:
            found.add(items[0])
            return
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                rest = [x for k, x in enumerate(items) if k not in (i, j)]
                hi, lo = max(items[i], items[j]), min(items[i], items[j])
                outs = [hi + lo, hi * lo] + ([hi - lo] if hi > lo else []) + ([hi // lo] if lo > 0 and hi % lo == 0 else [])
                for v in outs:
                    search(rest + [v])

    search(list(nums))
    return found


def js_num_key(nums, target):
    return ",".join(str(n) for n in sorted(nums)) + f"={target}"


def countdown_problems(task, count, rng):
    """`count` distinct training problems: numbers, then a target uniformly among reachable in-range values."""
    (nlo, nhi), (vlo, vhi), (tlo, thi) = task["numbers"], task["values"], task["target"]
    tf = task.get("testFraction", 0.2)
    out, seen = [], set()
    while len(out) < count:
        nums = [rng.randint(vlo, vhi) for _ in range(rng.randint(nlo, nhi))]
        targets = sorted(v for v in reachable(nums) if tlo <= v <= thi)
        if not targets:
            continue
        target = rng.choice(targets)
        key = js_num_key(nums, target)
        if key in seen or split_of(key, tf) != "train":
            continue
        seen.add(key)
        prompt = f"Use {' '.join(map(str, nums))} once each with + - * / to make {target}. Show steps, then <answer>equation</answer>.\n"
        out.append({"numbers": nums, "target": target, "prompt": prompt})
    return out


# ---------------------------------------------------------------- rollout and update

@torch.no_grad()
def rollout(model, tok, prompts, group, max_tokens, temperature, gen):
    """G samples per prompt, batched with left padding and per-row positions. Returns per row:
    prompt ids, response ids (through EOS), and per response token the sampling entropy and log p."""
    rows = [tok.prompt_ids(p) for p in prompts for _ in range(group)]
    B, P = len(rows), max(len(r) for r in rows)
    pad = [P - len(r) for r in rows]
    ids = torch.tensor([[0] * pad[b] + rows[b] for b in range(B)])
    key_ok = torch.zeros(B, P + max_tokens, dtype=torch.bool)
    for b in range(B):
        key_ok[b, pad[b]:] = True
    pos = (torch.arange(P)[None] - torch.tensor(pad)[:, None]).clamp(min=0)
    m = model
    # The G rows of a group repeat one prompt: prefill each prompt once and copy its keys,
    # values and last logits to its rows (acpo's generate does the same), so this baseline
    # does no work that acpo skips.
    U = len(prompts)
    cache_u = [(torch.zeros(U, m.Hkv, P + max_tokens, m.D), torch.zeros(U, m.Hkv, P + max_tokens, m.D)) for _ in range(m.L)]
    logits = m(ids[::group], pos[::group], key_ok[::group], cache_u, 0)[:, -1].repeat_interleave(group, 0)
    cache = [(k.repeat_interleave(group, 0), v.repeat_interleave(group, 0)) for k, v in cache_u]
    out = torch.zeros(B, max_tokens, dtype=torch.long)
    ent = torch.zeros(B, max_tokens)
    sampled_lp = torch.zeros(B, max_tokens)
    ended = torch.zeros(B, dtype=torch.bool)
    lengths = torch.full((B,), max_tokens)
    for i in range(max_tokens):
        logp = torch.log_softmax(logits / temperature, -1)
        ent[:, i] = -(logp.exp() * logp).sum(-1)
        nxt = torch.multinomial(logp.exp(), 1, generator=gen)[:, 0]
        out[:, i] = nxt
        sampled_lp[:, i] = logp.gather(1, nxt[:, None])[:, 0]
        newly = (~ended) & (nxt == tok.eos)
        lengths[newly] = i + 1
        ended |= newly
        if bool(ended.all()) or i + 1 == max_tokens:
            break
        logits = m(nxt[:, None], (pos[:, -1:] + i + 1), key_ok, cache, P + i)[:, -1]
    resp = [out[b, : int(lengths[b])].tolist() for b in range(B)]
    ents = [ent[b, : int(lengths[b])] for b in range(B)]
    lps = [sampled_lp[b, : int(lengths[b])] for b in range(B)]
    return rows, resp, ents, lps


def token_logp(model, rows, resp):
    """log p of each response token under `model` (one padded forward of whole rows, each group's
    prompt once per row: --whole-rows), and the response mask. (B, R) each."""
    B = len(rows)
    lens = [len(p) + len(r) for p, r in zip(rows, resp)]
    S = max(lens)
    ids = torch.zeros(B, S, dtype=torch.long)
    key_ok = torch.zeros(B, S, dtype=torch.bool)
    for b in range(B):
        seq = rows[b] + resp[b]
        ids[b, : len(seq)] = torch.tensor(seq)  # right padding: positions are 0.. per row
        key_ok[b, : len(seq)] = True
    pos = torch.arange(S)[None].expand(B, S)
    hidden = model(ids[:, :-1], pos[:, :-1], key_ok, head=False)  # (B, S-1, C)
    R = max(len(r) for r in resp)
    mask = torch.zeros(B, R)
    idx = torch.zeros(B, R, dtype=torch.long)  # the slot whose logits score each response token
    for b in range(B):
        n, L = len(rows[b]), len(resp[b])
        idx[b, :L] = torch.arange(n - 1, n - 1 + L)
        mask[b, :L] = 1
    # The LM head on response slots only, as acpo's update runs it: prompt slots carry no loss.
    h = hidden.gather(1, idx[..., None].expand(-1, -1, hidden.shape[-1]))  # (B, R, C)
    lp = torch.log_softmax(model.logits_of(h), -1).gather(-1, ids.gather(1, idx + 1)[..., None])[..., 0]
    return lp * mask, mask


def shared_prefixes(rows):
    """The distinct prefixes of the rows' prompts, each prompt but its last token (the last prompt
    slot's logits score the first response token: it belongs to the row, as in acpo's layout), in
    order of first appearance, and each row's index among them."""
    index, of = {}, []
    for b, p in enumerate(rows):
        if not p:
            raise SystemExit(f"row {b} has an empty prompt: its first response token has no slot to score it")
        of.append(index.setdefault(tuple(p[:-1]), len(index)))
    return [list(p) for p in index], of


def prefix_keys(model, prefixes, of):
    """Each layer's keys and values of the prefixes, computed once per distinct prefix and indexed
    out to the rows (autograd sums the rows' gradients back onto the prefix's). Per layer (k, v),
    (B, Hkv, Pp, D), Pp the longest prefix; right padding, which the rows' key masks hide."""
    U, Pp = len(prefixes), max(len(p) for p in prefixes)
    if Pp == 0:
        empty = torch.zeros(len(of), model.Hkv, 0, model.D)
        return [(empty, empty)] * model.L, 0
    ids = torch.zeros(U, Pp, dtype=torch.long)  # (U, Pp)
    ok = torch.zeros(U, Pp, dtype=torch.bool)  # (U, Pp)
    for u, p in enumerate(prefixes):
        ids[u, : len(p)] = torch.tensor(p, dtype=torch.long)
        ok[u, : len(p)] = True
    kv = []
    model(ids, torch.arange(Pp)[None].expand(U, Pp), ok, head=False, keep=kv)
    rows = torch.tensor(of)  # (B) each row's prompt
    return [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in kv], Pp


def token_logp_shared(model, rows, resp):
    """token_logp in acpo's shared-prefix layout (runtime/engine/model/shared-rows.ts): every prompt
    but its last token runs through the layers once per distinct prefix (`prefix_keys`), then each row
    runs only its own slots, its prompt's last token and its response but the last token (the slots
    whose logits score the response), attending to its prompt's keys and its own earlier ones. The LM
    head runs on those slots only. Same log p and mask as token_logp, (B, R) each."""
    prefixes, of = shared_prefixes(rows)
    past, Pp = prefix_keys(model, prefixes, of)
    B, R = len(rows), max(len(r) for r in resp)
    ids = torch.zeros(B, R, dtype=torch.long)  # (B, R) input token of each slot
    pos = torch.zeros(B, R, dtype=torch.long)  # (B, R) its position in prompt + response
    target = torch.zeros(B, R, dtype=torch.long)  # (B, R) the response token it scores
    mask = torch.zeros(B, R)  # (B, R)
    key_ok = torch.zeros(B, Pp + R, dtype=torch.bool)  # (B, Pp + R) the prefix's keys, then the row's own
    for b in range(B):
        n, L = len(rows[b]), len(resp[b])
        if L == 0:
            continue
        ids[b, :L] = torch.tensor([rows[b][-1]] + resp[b][:-1])
        pos[b, :L] = torch.arange(n - 1, n - 1 + L)
        target[b, :L] = torch.tensor(resp[b])
        mask[b, :L] = 1
        key_ok[b, : n - 1] = True
        key_ok[b, Pp : Pp + L] = True
    hidden = model(ids, pos, key_ok, head=False, past=past)  # (B, R, C)
    lp = torch.log_softmax(model.logits_of(hidden), -1).gather(-1, target[..., None])[..., 0]
    return lp * mask, mask


def grpo_update(model, ref, opt, rows, resp, rewards, cfg, probe=None):
    """One GRPO optimizer step on these responses. `probe` (a dict), when given, receives the
    tensors a shared-batch comparison reads: per-token log p and reference log p before the step."""
    r = torch.tensor(rewards, dtype=torch.float32).view(-1, cfg["group"])
    std = r.std(1, unbiased=cfg["ddof"] == 1, keepdim=True)
    adv = ((r - r.mean(1, keepdim=True)) / (std + cfg["adv_eps"])).view(-1, 1)
    # Each prompt once (as acpo's update), unless --whole-rows asks for the padded whole-row forward.
    logp_of = token_logp if cfg.get("whole_rows") else token_logp_shared
    logp, mask = logp_of(model, rows, resp)
    with torch.no_grad():
        ref_logp = logp_of(ref, rows, resp)[0] if cfg["kl"] > 0 else logp.detach()
    if probe is not None:
        probe.update(logp=logp.detach(), ref_logp=ref_logp, mask=mask)
    old = logp.detach()
    ratio = torch.exp(logp - old)
    surr = torch.minimum(ratio * adv, ratio.clamp(1 - cfg["eps_low"], 1 + cfg["eps_high"]) * adv)
    d = ref_logp - logp
    k3 = torch.exp(d) - d - 1
    tok_loss = -surr + cfg["kl"] * k3
    n_tok = mask.sum(1).clamp(min=1)
    if cfg["aggregate"] == "seq_mean_token_mean":
        loss = ((tok_loss * mask).sum(1) / n_tok).mean()
    else:
        loss = (tok_loss * mask).sum() / mask.sum()
    opt.zero_grad()
    loss.backward()
    if probe is not None:
        probe["grad_norms"] = {name: float(q.grad.norm()) for name, q in model.p.items()}
    gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip_grad_norm"])
    opt.step()
    kl = float((k3.detach() * mask).sum() / mask.sum())
    return float(loss), float(gnorm), kl


# ---------------------------------------------------------------- shared-batch replay

def read_run_batches(run_dir, prompts, group):
    """acpo's trajectories of each optimizer step, from RUN_DIR/samples.jsonl: {step: [line, ...]}
    with each step's lines ordered by group. Every step must hold all `prompts` groups of `group`
    trajectories: the advantage's group statistics, the aggregate and the gradient depend on all."""
    path = os.path.join(run_dir, "samples.jsonl")
    try:
        lines = [json.loads(x) for x in open(path) if x.strip()]
    except OSError as e:
        raise SystemExit(f"--replay: cannot read {path}: {e.strerror}; give an acpo run directory")
    steps = {}
    for t in lines:
        steps.setdefault(t["step"], []).append(t)
    for step, ts in steps.items():
        sizes = {}
        for t in ts:
            sizes[t["group"]] = sizes.get(t["group"], 0) + 1
        short = {g: n for g, n in sizes.items() if n != group}
        if short or len(sizes) != prompts:
            what = "group {} has {} trajectories".format(*next(iter(short.items()))) if short else f"{len(sizes)} groups"
            raise SystemExit(f"{path}: step {step}: {what}, the rollout has {prompts} groups of {group}; the replay needs every "
                             f"trajectory of a step (train with --samples-per-step {prompts * group} or more)")
        ts.sort(key=lambda t: t["group"])  # stable: batch order within a group
    return steps


def replay_rows(tok, ts, path, step):
    """Prompt ids of each trajectory (BOS + the prompt text, as acpo's countdown prompt) and response ids."""
    rows = [tok.prompt_ids(t["prompt"]) for t in ts]
    for t, ids in zip(ts, rows):
        seen = "".join(tok.inv[i] for i in ids)
        if t.get("prompt_rendered", seen) != seen:
            raise SystemExit(f"{path}: step {step}: prompt rendered as {t['prompt_rendered']!r}, this reference renders {seen!r}")
    return rows, [t["tokens"] for t in ts]


def max_token_diff(ours, mask, ts, field):
    """max |ours - acpo's recorded per-token value| over response tokens."""
    theirs = torch.zeros_like(ours)
    for b, t in enumerate(ts):
        theirs[b, : len(t[field])] = torch.tensor([math.nan if v is None else v for v in t[field]])
    return float(((ours - theirs).abs() * mask).max())


def rel(a, b):
    """||a - b|| / ||b||, in float64."""
    a, b = a.double(), b.double()
    nb = float(b.norm())
    return float((a - b).norm()) / nb if nb > 0 else float((a - b).norm())


def compare_checkpoint(model, opt, ckpt, before):
    """Per tensor, torch's state after the step against acpo's checkpoint of the same step: the update
    (weight change from `before`), the weights, and AdamW's two moments (exp_avg holds (1 - beta1) x the
    clipped gradient after step 1). Returns rows sorted by the update's relative difference."""
    w = read_safetensors(os.path.join(ckpt, "model.safetensors"))
    mom = read_safetensors(os.path.join(ckpt, "optimizer.safetensors"))
    out = []
    for name, q in model.p.items():
        hf = name.replace("__", ".")
        st = opt.state[q]
        d_t, d_a = q.detach() - before[name], w[hf] - before[name]
        out.append({"tensor": hf, "update_torch": float(d_t.norm()), "update_acpo": float(d_a.norm()),
                    "update_rel_diff": rel(d_t, d_a), "weight_rel_diff": rel(q.detach(), w[hf]),
                    "exp_avg_rel_diff": rel(st["exp_avg"], mom[hf + ".exp_avg"]),
                    "exp_avg_sq_rel_diff": rel(st["exp_avg_sq"], mom[hf + ".exp_avg_sq"])})
    return sorted(out, key=lambda r: -r["update_rel_diff"])


def replay(model, ref, opt, tok, cfg, run_dir, steps, log):
    """The torch update on exactly acpo's trajectories, step after step, from the same initial weights.
    Per step: how far torch's log p (before the step) is from acpo's recorded `logp` and `ref_logp`, the
    loss, the gradient norm before clipping and the KL (k3, token mean) on both sides; after the step,
    per tensor against acpo's checkpoint of that step where the run kept one."""
    batches = read_run_batches(run_dir, cfg["prompts"], cfg["group"])
    acpo = {q["step"]: q for q in read_acpo_metrics(run_dir)}
    path = os.path.join(run_dir, "samples.jsonl")
    print(f"replaying {path}: torch's update on acpo's trajectories (differences: torch - acpo)", file=log)
    print(f"{'step':>4} {'lr':>8}  {'|dlogp|max':>10} {'|dref|max':>9}  {'loss torch':>11} {'acpo':>11}  "
          f"{'gnorm torch':>11} {'acpo':>9}  {'kl torch':>9} {'acpo':>9}", file=log)
    out = []
    for step in range(1, steps + 1):
        if step not in batches:
            raise SystemExit(f"{path}: no trajectories of step {step}; the run has steps {min(batches)}..{max(batches)}")
        ts = batches[step]
        rows, resp = replay_rows(tok, ts, path, step)
        before = {name: q.detach().clone() for name, q in model.p.items()}
        probe = {}
        lr = lr_at(cfg, step)
        set_lr(opt, lr)
        loss, gnorm, kl = grpo_update(model, ref, opt, rows, resp, [t["reward"] for t in ts], cfg, probe)
        q = acpo.get(step, {})
        m = {"step": step, "lr": lr, "lr_acpo": q.get("learning_rate"),
             "logp_max_diff": max_token_diff(probe["logp"], probe["mask"], ts, "logp"),
             "ref_logp_max_diff": max_token_diff(probe["ref_logp"], probe["mask"], ts, "ref_logp") if "ref_logp" in ts[0] else None,
             "loss": loss, "loss_acpo": q.get("loss"), "grad_norm": gnorm, "grad_norm_acpo": q.get("grad_norm"),
             "kl": kl, "kl_acpo": q.get("kl"), "grad_norms": probe["grad_norms"]}
        ckpt = os.path.join(run_dir, f"checkpoint-{step}")
        if os.path.isdir(ckpt):
            m["tensors"] = compare_checkpoint(model, opt, ckpt, before)
        out.append(m)
        f = lambda v, spec: "-" if v is None else format(v, spec)
        print(f"{step:>4} {lr:>8.2e}  {m['logp_max_diff']:>10.2e} {f(m['ref_logp_max_diff'], '>9.2e')}  {loss:>11.4e} {f(m['loss_acpo'], '>11.4e')}  "
              f"{gnorm:>11.5f} {f(m['grad_norm_acpo'], '>9.5f')}  {kl:>9.6f} {f(m['kl_acpo'], '>9.6f')}", file=log, flush=True)
        for r in m.get("tensors", [])[:5]:
            print(f"     {r['tensor']:<40} update torch {r['update_torch']:.3e} acpo {r['update_acpo']:.3e} (rel diff {r['update_rel_diff']:.1e}); "
                  f"exp_avg {r['exp_avg_rel_diff']:.1e}, exp_avg_sq {r['exp_avg_sq_rel_diff']:.1e}, weights {r['weight_rel_diff']:.1e}", file=log)
    return out


# ---------------------------------------------------------------- settings

def read_pipeline(a):
    """The resolved pipeline: a compiled plan's plan.json (--plan), else the run's own record of what
    ran (--replay RUN_DIR: config.resolved.json, spec/run.md), which holds the same fields."""
    path = os.path.join(a.plan, "plan.json") if a.plan else os.path.join(a.replay, "config.resolved.json")
    try:
        doc = json.load(open(path))
    except OSError as e:
        raise SystemExit(f"{path}: cannot read: {e.strerror}")
    return doc if a.plan else doc["pipeline"]


def settings(a):
    cfg = {
        "model": a.model, "seed": a.seed, "prompts": a.prompts, "group": a.group, "max_tokens": a.max_tokens,
        "temperature": a.temperature, "lr": a.lr, "warmup_steps": a.warmup_steps, "schedule": "constant", "beta1": 0.9, "beta2": 0.999, "adam_eps": 1e-8, "weight_decay": 0.0,
        "clip_grad_norm": a.clip_grad_norm, "eps_low": a.eps_low, "eps_high": a.eps_high, "aggregate": a.aggregate,
        "kl": a.kl, "adv_eps": a.adv_eps, "ddof": a.ddof,
        "task": {"numbers": [3, 3], "values": [1, 9], "target": [1, 30], "testFraction": 0.2},
    }
    src = a.plan or a.replay
    if src:
        p = read_pipeline(a)
        if p["task"]["kind"] != "countdown":
            raise SystemExit(f"{src}: task {p['task']['kind']}; this reference implements countdown only")
        ro, op, lo = p["rollout"], p["optimizer"], p["loss"]
        if op["kind"] != "adamw" or op.get("ppoEpochs", 1) != 1 or op.get("minibatches", 1) != 1:
            raise SystemExit(f"{src}: optimizer {op['kind']} with {op.get('ppoEpochs')} epochs x {op.get('minibatches')} minibatches; this reference does AdamW, one step per rollout")
        if lo["kind"] != "ppo_clip" or lo["aggregate"] not in ("seq_mean_token_mean", "token_mean"):
            raise SystemExit(f"{src}: loss {lo['kind']} / aggregate {lo['aggregate']}; this reference does ppo_clip with token_mean or seq_mean_token_mean")
        if op.get("schedule", "constant") not in ("constant", "linear", "cosine"):
            raise SystemExit(f"{src}: optimizer schedule {op['schedule']}; this reference knows constant, linear and cosine")
        if ro.get("topP", 1) != 1 or ro.get("topK", 0) != 0:
            raise SystemExit(f"{src}: top_p/top_k sampling; this reference samples the full distribution")
        beta = [q["value"] for q in p.get("params", []) if q["name"] == "beta"]
        cfg.update({
            "model": p["model"]["path"], "seed": p["seed"], "prompts": ro["prompts"], "group": ro["group"], "max_tokens": ro["maxTokens"],
            "temperature": ro["temperature"], "lr": op["lr"], "warmup_steps": op.get("warmupSteps", 0), "schedule": op.get("schedule", "constant"), "beta1": op["beta1"], "beta2": op["beta2"], "adam_eps": op["eps"],
            "weight_decay": op["weightDecay"], "clip_grad_norm": op["clipGradNorm"], "eps_low": lo["epsLow"], "eps_high": lo["epsHigh"],
            "aggregate": lo["aggregate"], "task": {**cfg["task"], **{k: p["task"][k] for k in ("numbers", "values", "target") if k in p["task"]}},
        })
        if beta:
            cfg["kl"] = beta[0]
    if a.set_seed is not None:
        cfg["seed"] = a.set_seed
    cfg["schedule_steps"] = schedule_steps(a)
    cfg["whole_rows"] = a.whole_rows
    return cfg


def schedule_steps(a):
    """The step count a decaying rate reaches 0 at: acpo's run length (trainer.ts totalSteps)."""
    run = a.replay or a.compare
    if run:
        path = os.path.join(run, "config.resolved.json")
        try:
            steps = json.load(open(path)).get("steps")
        except (OSError, ValueError) as e:
            raise SystemExit(f"{path}: cannot read the run's step count: {e}")
        if isinstance(steps, int) and steps >= 1:
            return steps
    return a.schedule_steps or a.steps


def lr_at(cfg, step):
    """acpo's rate at a 1-based step (lr-schedule.ts lrAt, floor 0): lr * step / warmup during the
    warm-up, then constant, or a linear or cosine decay from lr to 0 at step schedule_steps."""
    w, lr = cfg["warmup_steps"], cfg["lr"]
    if w > 0 and step <= w:
        return lr * step / w
    kind = cfg.get("schedule", "constant")
    if kind == "constant":
        return lr
    progress = min(1.0, (step - w) / max(1, cfg["schedule_steps"] - w))
    return lr * (1 - progress if kind == "linear" else 0.5 * (1 + math.cos(math.pi * progress)))


def adamw(model, cfg):
    """AdamW with acpo's parameter groups (runtime/engine/model/optimizer.ts, as Hugging Face Trainer):
    biases and norm weights are not decayed, every other weight is."""
    no_decay = lambda name: name.endswith("__bias") or name.endswith("norm__weight")
    groups = [{"params": [q for n, q in model.p.items() if not no_decay(n)], "weight_decay": cfg["weight_decay"]},
              {"params": [q for n, q in model.p.items() if no_decay(n)], "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["adam_eps"])


def set_lr(opt, lr):
    for group in opt.param_groups:
        group["lr"] = lr


def read_acpo_metrics(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    try:
        return [json.loads(line) for line in open(path) if line.strip()]
    except OSError as e:
        raise SystemExit(f"--compare: cannot read {path}: {e.strerror}; give an acpo run directory")


def mean_se(xs):
    if not xs:
        return "-"
    m = statistics.fmean(xs)
    se = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")
    return f"{m:.4f} ± {se:.4f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plan", help="plan directory from `acpo compile FILE.acpo -o DIR` (overrides the settings flags)")
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "countdown-tiny"))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set-seed", dest="set_seed", type=int, help="seed, even with --plan")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--warmup-steps", dest="warmup_steps", type=int, default=0, help="linear warm-up over the first N steps (runtime/engine/model/lr-schedule.ts)")
    ap.add_argument("--schedule-steps", dest="schedule_steps", type=int, help="the run length a decaying rate reaches 0 at (default: the --compare run's, else --steps)")
    ap.add_argument("--clip-grad-norm", type=float, default=1.0)
    ap.add_argument("--eps-low", type=float, default=0.2)
    ap.add_argument("--eps-high", type=float, default=0.2)
    ap.add_argument("--aggregate", choices=["seq_mean_token_mean", "token_mean"], default="seq_mean_token_mean")
    ap.add_argument("--kl", type=float, default=0.04, help="k3 KL coefficient to the initial policy")
    ap.add_argument("--adv-eps", type=float, default=1e-4)
    ap.add_argument("--ddof", type=int, choices=[0, 1], default=1, help="group std: 1 sample (TRL, grpo.acpo), 0 population")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads (default: every core)")
    ap.add_argument("--compare", metavar="RUN_DIR", help="print acpo's metrics.jsonl from this run beside each step")
    ap.add_argument("--replay", metavar="RUN_DIR", help="no rollouts: run the update on the trajectories of an acpo run (every one of each step in "
                    "its samples.jsonl) from the plan's model, and compare log p, loss, gradient norm, KL and the checkpoints step by step")
    ap.add_argument("--whole-rows", dest="whole_rows", action="store_true", help="the update's log p on whole padded rows, each group's prompt "
                    "once per row, instead of once per distinct prompt (acpo's shared-prefix layout); the same numbers, for comparison")
    ap.add_argument("--json", action="store_true", help="print one JSON line with every step's metrics at the end")
    a = ap.parse_args()
    if a.steps < 1:
        raise SystemExit("--steps must be >= 1")
    if a.schedule_steps is not None and a.schedule_steps < 1:
        raise SystemExit("--schedule-steps must be >= 1")
    torch.set_num_threads(a.threads)
    cfg = settings(a)
    torch.manual_seed(cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    rng = random.Random(cfg["seed"])
    model, tok = load_model(cfg["model"])
    ref = None
    if cfg["kl"] > 0:
        ref, _ = load_model(cfg["model"])
        ref.requires_grad_(False)
    opt = adamw(model, cfg)
    log = sys.stderr if a.json else sys.stdout
    layout = "whole_rows" if a.whole_rows else "shared_prefix"
    if a.replay:
        out = replay(model, ref, opt, tok, cfg, a.replay, a.steps, log)
        if a.json:
            print(json.dumps({"threads": torch.get_num_threads(), "version": torch.__version__, "update_layout": layout, "replay": out}))
        return
    acpo = read_acpo_metrics(a.compare) if a.compare else None
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; model {cfg['model']}; {cfg['prompts']} prompts x {cfg['group']}, "
          f"max {cfg['max_tokens']} tokens, T={cfg['temperature']}; update on {layout.replace('_', ' ')}; lr {cfg['lr']} ({cfg['schedule']} over {cfg['schedule_steps']} steps), kl {cfg['kl']}, clip {cfg['eps_low']}/{cfg['eps_high']}, {cfg['aggregate']}", file=log)
    head = f"{'step':>4}  {'reward':>7} {'loss':>8} {'entropy':>7} {'kl':>7} {'len':>5}  {'roll s':>6} {'upd s':>6}"
    if acpo:
        head += f"   | acpo: {'reward':>7} {'loss':>8} {'entropy':>7} {'kl':>7} {'len':>5} {'step s':>6}"
    print(head, file=log)
    steps = []
    for step in range(1, a.steps + 1):
        t0 = time.perf_counter()
        probs = countdown_problems(cfg["task"], cfg["prompts"], rng)
        rows, resp, ents, _lps = rollout(model, tok, [p["prompt"] for p in probs], cfg["group"], cfg["max_tokens"], cfg["temperature"], gen)
        tv = time.perf_counter()
        rewards = [verify_countdown(probs[i // cfg["group"]]["numbers"], probs[i // cfg["group"]]["target"], tok.decode(r))["reward"] for i, r in enumerate(resp)]
        t1, c1 = time.perf_counter(), time.process_time()
        set_lr(opt, lr_at(cfg, step))
        loss, gnorm, kl = grpo_update(model, ref, opt, rows, resp, rewards, cfg)
        t2, c2 = time.perf_counter(), time.process_time()
        ent_all = torch.cat(ents)
        m = {"step": step, "reward_mean": statistics.fmean(rewards), "loss": loss, "entropy_mean": float(ent_all.mean()), "kl": kl,
             "grad_norm": gnorm, "response_length_mean": statistics.fmean(len(r) for r in resp),
             "time_rollout_s": tv - t0, "time_verify_s": t1 - tv, "time_update_s": t2 - t1, "time_step_s": t2 - t0,
             "cpu_update_s": c2 - c1}  # CPU seconds of every thread: on a loaded machine, steadier than wall time
        steps.append(m)
        line = f"{step:>4}  {m['reward_mean']:>7.4f} {loss:>8.4f} {m['entropy_mean']:>7.4f} {kl:>7.4f} {m['response_length_mean']:>5.1f}  {t1 - t0:>6.2f} {t2 - t1:>6.2f}"
        if acpo:
            q = next((x for x in acpo if x.get("step") == step), None)
            line += "   |       " + ("(no such step)" if q is None else
                                    f"{q['reward_mean']:>7.4f} {q['loss']:>8.4f} {q['entropy_mean']:>7.4f} {(q.get('kl') or 0):>7.4f} {q['response_length_mean']:>5.1f} {q['time_step_s']:>6.2f}")
        print(line, file=log, flush=True)
    if acpo:
        n = len(steps)
        ours = {k: [s[k] for s in steps] for k in ("reward_mean", "loss", "entropy_mean", "response_length_mean")}
        theirs = {k: [q[k] for q in acpo if 1 <= q.get("step", 0) <= n] for k in ours}
        print(f"mean ± standard error over steps 1..{n}:", file=log)
        for k in ours:
            print(f"  {k:<22} torch {mean_se(ours[k]):>20}   acpo {mean_se(theirs[k]):>20}", file=log)
    if a.json:
        print(json.dumps({"threads": torch.get_num_threads(), "version": torch.__version__, "update_layout": layout, "steps": steps}))


if __name__ == "__main__":
    main()
