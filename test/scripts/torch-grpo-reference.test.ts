// The PyTorch reference of the GRPO step (scripts/torch_grpo_reference.py) must follow the
// plan's learning-rate schedule step for step, or its curves drift from acpo's after the
// warm-up (it once ran at the full rate from step 1). These tests pin the rate it uses and
// its refusal of schedules it does not mirror, and its shared-batch replay (--replay RUN_DIR):
// torch's update on exactly the trajectories of an acpo run, from the same weights, must give
// acpo's log-probs, loss, gradient norm, KL and AdamW moments step after step (issue 13: the
// replay is how a KL difference between the two was traced to the sample path, not the update).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { TORCH_PYTHON, torchEnv } from "../../bench/lib/torch.js";
import { lrAt } from "../../runtime/engine/model/lr-schedule.js";
import { ensureTorch } from "../helpers/torch.js";

const SCRIPT = "scripts/torch_grpo_reference.py";

function python(args: string[]) {
  return spawnSync(TORCH_PYTHON, args, { encoding: "utf8", env: torchEnv(), timeout: 120_000 });
}

describe("torch GRPO reference", () => {
  beforeAll(() => ensureTorch());

  it("uses acpo's rate at every step: linear warm-up, then constant, linear or cosine decay to 0", () => {
    const code = [
      "import sys, json",
      "sys.path.insert(0, 'scripts')",
      "from torch_grpo_reference import lr_at",
      "print(json.dumps({k: [lr_at({'lr': 3e-4, 'warmup_steps': 5, 'schedule': k, 'schedule_steps': 12}, s) for s in range(1, 13)] for k in ('constant', 'linear', 'cosine')}))",
    ].join("\n");
    const r = python(["-c", code]);
    expect(r.status, r.stderr).toBe(0);
    const theirs = JSON.parse(r.stdout) as Record<string, number[]>;
    for (const decay of ["constant", "linear", "cosine"] as const) {
      const ours = Array.from({ length: 12 }, (_, i) => lrAt({ lr: 3e-4, warmupSteps: 5, decay, totalSteps: 12, minRatio: 0 }, i + 1));
      expect(theirs[decay]!.length).toBe(12);
      theirs[decay]!.forEach((v, i) => expect(v, `${decay} step ${i + 1}`).toBeCloseTo(ours[i] ?? Number.NaN, 12));
    }
    expect(theirs.constant![0]).toBeCloseTo(6e-5, 12); // a fifth of the rate at step 1, not the full rate
    expect(theirs.cosine![11]).toBe(0); // the decays reach 0 at the run's last step
    expect(theirs.cosine![6]).toBeGreaterThan(theirs.linear![6]!); // and differ in shape: cosine stays higher early
  });

  it("refuses a plan whose sampling it cannot mirror, naming the plan and the setting", () => {
    const dir = mkdtempSync(join(tmpdir(), "torch-ref-plan-"));
    const plan = {
      model: { path: "models/countdown-tiny" },
      seed: 0,
      task: { kind: "countdown", numbers: [3, 3], values: [1, 9], target: [1, 30] },
      rollout: { prompts: 2, group: 2, temperature: 1, topP: 0.9, topK: 0, maxTokens: 8 },
      optimizer: { kind: "adamw", lr: 3e-4, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, clipGradNorm: 1, warmupSteps: 5, schedule: "cosine", ppoEpochs: 1, minibatches: 1 },
      loss: { kind: "ppo_clip", epsLow: 0.2, epsHigh: 0.2, aggregate: "seq_mean_token_mean" },
      params: [],
    };
    writeFileSync(join(dir, "plan.json"), JSON.stringify(plan));
    const r = python([SCRIPT, "--plan", dir, "--steps", "1"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim()).toBe(`${dir}: top_p/top_k sampling; this reference samples the full distribution`);
  });

  it("puts norm weights in AdamW's no-decay group, as acpo's optimizer does", () => {
    const code = [
      "import sys, json",
      "sys.path.insert(0, 'scripts')",
      "import torch_grpo_reference as R",
      "model, _ = R.load_model('models/countdown-tiny')",
      "opt = R.adamw(model, {'lr': 1e-3, 'beta1': 0.9, 'beta2': 0.99, 'adam_eps': 1e-8, 'weight_decay': 0.1})",
      "names = {id(q): n.replace('__', '.') for n, q in model.p.items()}",
      "print(json.dumps([[g['weight_decay'], sorted(names[id(q)] for q in g['params'])] for g in opt.param_groups]))",
    ].join("\n");
    const r = python(["-c", code]);
    expect(r.status, r.stderr).toBe(0);
    const groups = JSON.parse(r.stdout) as [number, string[]][];
    const undecayed = groups.filter(([wd]) => wd === 0).flatMap(([, n]) => n);
    const decayed = groups.filter(([wd]) => wd === 0.1).flatMap(([, n]) => n);
    expect(undecayed.length).toBeGreaterThan(0);
    expect(undecayed.every((n) => n.endsWith("norm.weight")), undecayed.join(" ")).toBe(true);
    expect(decayed.some((n) => n.endsWith("norm.weight")), decayed.join(" ")).toBe(false);
    expect(decayed).toContain("model.embed_tokens.weight");
  });
});

// The update's log p runs each group's prompt through the layers once (token_logp_shared, acpo's
// shared-prefix layout) instead of once per row (token_logp, --whole-rows): the same numbers on less
// work, or the baseline that times beside acpo's step would either do work acpo skips or compute
// another update. Three prompts of different lengths (the prefixes are padded to the longest),
// three responses each of 1 to 12 tokens, a reference policy moved off the policy so the KL term
// has a gradient, and no gradient clipping: log p, reference log p and every parameter's gradient
// after one grpo_update must agree with the whole-row path's, and the forwards must have run the
// token counts each layout implies.
const SHARED_VS_WHOLE = `
import sys, json, torch
sys.path.insert(0, 'scripts')
import torch_grpo_reference as R
torch.manual_seed(0)
M = 'models/countdown-slips'
_, tok = R.load_model(M)
texts = ['Use 3 4 once each with + - * / to make 7. Show steps, then <answer>equation</answer>.\\n',
         'Use 12 5 9 once each with + - * / to make 29. Show steps, then <answer>equation</answer>.\\n',
         'Use 2 once each to make 2.\\n']
G = 3
rows = [tok.prompt_ids(t) for t in texts for _ in range(G)]
lens = [5, 1, 12, 7, 7, 3, 9, 2, 4]
resp = [torch.randint(0, len(tok.vocab), (n,), generator=torch.Generator().manual_seed(b)).tolist() for b, n in enumerate(lens)]
rewards = [1.0, 0.0, 0.5, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]
cfg = {'group': G, 'ddof': 1, 'adv_eps': 1e-4, 'eps_low': 0.2, 'eps_high': 0.2, 'kl': 0.04, 'aggregate': 'seq_mean_token_mean',
       'clip_grad_norm': 1e9, 'lr': 1e-3, 'beta1': 0.9, 'beta2': 0.99, 'adam_eps': 1e-8, 'weight_decay': 0.0}
ref, _ = R.load_model(M)
with torch.no_grad():
    for q in ref.parameters():
        q.add_(0.05 * q.abs().mean() * torch.randn_like(q))
ref.requires_grad_(False)
tokens, path = {}, None
forward = R.Decoder.forward
def counting(self, ids, *a, **k):
    tokens[path] = tokens.get(path, 0) + ids.numel()
    return forward(self, ids, *a, **k)
R.Decoder.forward = counting
out = {}
for path in ('whole', 'shared'):
    model, _ = R.load_model(M)
    probe = {}
    R.grpo_update(model, ref, R.adamw(model, cfg), rows, resp, rewards, {**cfg, 'whole_rows': path == 'whole'}, probe)
    out[path] = dict(probe, grads={n.replace('__', '.'): q.grad.clone() for n, q in model.p.items()})
w, s = out['whole'], out['shared']
rel = lambda a, b: float((a - b).abs().max() / b.abs().max())
print(json.dumps({
    'mask_equal': bool(torch.equal(w['mask'], s['mask'])), 'tokens_response': int(w['mask'].sum()),
    'logp': rel(s['logp'] * s['mask'], w['logp'] * w['mask']), 'ref_logp': rel(s['ref_logp'] * s['mask'], w['ref_logp'] * w['mask']),
    'ref_moved': float(((w['ref_logp'] - w['logp']) * w['mask']).abs().max()),
    'grads': {n: [rel(s['grads'][n], g), float(g.abs().max())] for n, g in w['grads'].items()},
    'tokens': tokens, 'prompt_lens': [len(r) for r in rows[::G]],
}))
`;

describe("torch GRPO reference: the update runs each prompt once", () => {
  beforeAll(() => ensureTorch());

  it("gives the whole-row path's log p, reference log p and every gradient, on the prompts' tokens once", () => {
    const r = python(["-c", SHARED_VS_WHOLE]);
    expect(r.status, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout) as {
      mask_equal: boolean; tokens_response: number; logp: number; ref_logp: number; ref_moved: number;
      grads: Record<string, [number, number]>; tokens: { whole: number; shared: number }; prompt_lens: number[];
    };
    expect(o.mask_equal).toBe(true);
    expect(o.tokens_response).toBe(50);
    expect(o.logp).toBeLessThan(1e-5);
    expect(o.ref_logp).toBeLessThan(1e-5);
    expect(o.ref_moved).toBeGreaterThan(1e-3); // the reference differs from the policy: the KL term has a gradient
    expect(Object.keys(o.grads).length).toBeGreaterThan(10);
    for (const [name, [diff, largest]] of Object.entries(o.grads)) {
      expect(largest, name).toBeGreaterThan(0);
      expect(diff, name).toBeLessThan(1e-5);
    }
    // Two forwards each (policy, reference). Whole rows: 9 rows of the longest prompt + response
    // but its last slot. Shared: each prompt but its last token once, padded to the longest, then
    // 9 rows of the longest response's slots (the prompt's last token, the response but its last).
    const [P0, P1, P2] = o.prompt_lens as [number, number, number];
    expect(new Set(o.prompt_lens).size).toBe(3); // prompts of three different lengths
    const longest = Math.max(P0 + 12, P1 + 7, P2 + 9); // responses of 5, 1, 12 | 7, 7, 3 | 9, 2, 4 tokens
    expect(o.tokens.whole).toBe(2 * 9 * (longest - 1));
    expect(o.tokens.shared).toBe(2 * (3 * (Math.max(P0, P1, P2) - 1) + 9 * 12));
  });
});

describe("torch GRPO reference: --replay on an acpo run", () => {
  let run = "";
  beforeAll(() => {
    ensureTorch();
    // Two steps of examples/grpo.acpo (no evaluation), small and at a high rate without warm-up so
    // the policy moves and the KL term is not zero (responses are ~33 tokens: 64 leaves them whole,
    // so some are right and the advantage is not zero); every trajectory recorded (through the
    // command's --samples-per-step), every checkpoint kept.
    const text = readFileSync("examples/grpo.acpo", "utf8").replace(/^\s*eval\s+\{.*$/m, "")
      .replace(/^\s*model\s+".*$/m, `  model "${resolve("models/countdown-slips")}"`)
      .replace(/^\s*rollout\s+\{.*$/m, "  rollout { prompts 4  group 4  temperature 1.0  top_p 1.0  max_tokens 64 }")
      .replace(/^\s*optimizer\s+adamw\s+\{.*$/m, "  optimizer adamw { lr 3e-3  clip_grad_norm 1.0  beta2 0.99 }");
    // The edits took (the example's lines still read as the patterns expect): a small run, no evaluation.
    expect([text.includes("prompts 4  group 4"), text.includes("lr 3e-3"), text.includes(resolve("models")), /^\s*eval\b/m.test(text)]).toEqual([true, true, true, false]);
    const dir = mkdtempSync(join(tmpdir(), "torch-ref-replay-"));
    writeFileSync(join(dir, "grpo-small.acpo"), text);
    run = join(dir, "run");
    const r = spawnSync(process.execPath, ["cli/acpo.js", "train", join(dir, "grpo-small.acpo"), "--steps", "2", "--out", run, "--samples-per-step", "16", "--checkpoint-every", "1", "--quiet"], { encoding: "utf8", timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
  }, 300_000);

  interface ReplayStep {
    step: number; logp_max_diff: number; ref_logp_max_diff: number; loss: number; loss_acpo: number;
    grad_norm: number; grad_norm_acpo: number; kl: number; kl_acpo: number;
    tensors?: { tensor: string; exp_avg_rel_diff: number; exp_avg_sq_rel_diff: number; weight_rel_diff: number }[];
  }

  it("gives acpo's log p, loss, gradient norm, KL and AdamW moments at every step", () => {
    const r = python([SCRIPT, "--replay", run, "--steps", "2", "--threads", "1", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const steps = (JSON.parse(r.stdout) as { replay: ReplayStep[] }).replay;
    expect(steps.map((s) => s.step)).toEqual([1, 2]);
    for (const s of steps) {
      expect(s.logp_max_diff, `step ${s.step}`).toBeLessThan(1e-4);
      expect(s.ref_logp_max_diff, `step ${s.step}`).toBeLessThan(1e-4);
      expect(Math.abs(s.loss - s.loss_acpo), `step ${s.step}: loss ${s.loss} vs ${s.loss_acpo}`).toBeLessThan(1e-5);
      expect(Math.abs(s.grad_norm - s.grad_norm_acpo), `step ${s.step}: grad norm ${s.grad_norm} vs ${s.grad_norm_acpo}`).toBeLessThan(1e-4 * s.grad_norm_acpo);
      expect(Math.abs(s.kl - s.kl_acpo), `step ${s.step}: kl ${s.kl} vs ${s.kl_acpo}`).toBeLessThan(1e-4 * s.kl_acpo + 1e-7);
      // Both checkpoints are kept (the newest 2): every tensor's moments and weights agree.
      expect(s.tensors?.length ?? 0).toBeGreaterThan(0);
      for (const t of s.tensors ?? []) {
        expect(t.exp_avg_rel_diff, `step ${s.step} ${t.tensor}`).toBeLessThan(1e-3);
        expect(t.exp_avg_sq_rel_diff, `step ${s.step} ${t.tensor}`).toBeLessThan(1e-3);
        // The embedding's rows of tokens the batch barely touches get gradients within f32 noise of
        // zero, which Adam scales up to steps of order lr (its update divides by sqrt(v)): there the
        // two differ by up to a few lr per element, ~2e-4 of the tensor here. Elsewhere, f32 rounding.
        const tol = t.tensor === "model.embed_tokens.weight" ? 1e-3 : 1e-4;
        expect(t.weight_rel_diff, `step ${s.step} ${t.tensor}`).toBeLessThan(tol);
      }
    }
    expect(steps[0]!.grad_norm_acpo).toBeGreaterThan(0); // some group had mixed rewards: there was a gradient to compare
    expect(steps[1]!.kl).toBeGreaterThan(1e-5); // the policy moved: the KL comparison compares something
  });

  it("refuses a run whose samples.jsonl lacks a trajectory, naming the file, the step and the flag to use", () => {
    const cut = mkdtempSync(join(tmpdir(), "torch-ref-cut-"));
    for (const f of ["config.resolved.json", "metrics.jsonl"]) copyFileSync(join(run, f), join(cut, f));
    const lines = readFileSync(join(run, "samples.jsonl"), "utf8").trim().split("\n");
    writeFileSync(join(cut, "samples.jsonl"), `${lines.slice(1).join("\n")}\n`); // step 1 loses one response of group 0
    const r = python([SCRIPT, "--replay", cut, "--steps", "2", "--threads", "1"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim()).toBe(`${join(cut, "samples.jsonl")}: step 1: group 0 has 3 trajectories, the rollout has 4 groups of 4; the replay needs every trajectory of a step (train with --samples-per-step 16 or more)`);
  });

  it("acpo train refuses --samples-per-step 0 before any work, naming the option", () => {
    const r = spawnSync(process.execPath, ["cli/acpo.js", "train", resolve("examples/grpo.acpo"), "--samples-per-step", "0"], { encoding: "utf8", timeout: 120_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("error: option '--samples-per-step <n>' argument '0' is invalid. expected an integer >= 1, got '0'\n");
  });
});
