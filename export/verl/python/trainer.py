"""verl trainer for ACPO pipelines (segmentation, attribution, per-token entropy in the
advantage): verl's v1 synchronous trainer (PPOTrainerSync) with one step replaced,
`_compute_advantage`, registered with @register_trainer under REGISTRY_NAME and selected by
trainer.v1.trainer_mode (config/<package>.yaml).

NOT EXECUTED HERE: verl (with Ray and TransferQueue) is not installable on the machines acpo
is tested on. This file is kept to verl's calls, written against verl/trainer/ppo/v1/
trainer_base.py (_compute_old_log_prob, _compute_ref_log_prob, _compute_advantage) and
agent_loop_tq.py (the fields a sample holds in TransferQueue). Everything else it calls,
acpo_step.advantage_of_rows (segmentation, attribution batches, the IR layout and the
generated advantage), runs in acpo's tests without verl.

Why a subclass: verl's advantage step fetches uid, masks, scores and log-probs only; the
entropy verl computes with the old log-probs is stored (field "entropy") but never reaches
an advantage estimator, nor do the decoded text and the judge's forward passes ACPO needs.
"""
import torch
import transfer_queue as tq
from tensordict import TensorDict
from verl.trainer.ppo.v1.trainer_base import register_trainer
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
from verl.workers.utils.padding import response_from_nested, response_to_nested

from . import numerics as N
from .acpo_step import advantage_of_rows

JUDGE_PARTITION = "acpo_judge"


@register_trainer(N.REGISTRY_NAME)
class AcpoTrainer(PPOTrainerSync):
    def _compute_advantage(self, batch, metrics):
        """acpo's advantage from rewards, entropy, decoded text and attribution; written back
        as verl's _compute_advantage writes its own (nested advantages and returns)."""
        fields = ["uid", "prompts", "responses", "response_mask", "rm_scores", "entropy"]
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=fields)
        response_mask = data["response_mask"]
        rows = []
        for uid, prompt, response, scores, entropy in zip(
            data["uid"].tolist(), data["prompts"].unbind(), data["responses"].unbind(), data["rm_scores"].unbind(), data["entropy"].unbind()
        ):
            ids = response.tolist()
            rows.append({
                "uid": uid, "prompt_ids": prompt.tolist(), "response_ids": ids,
                "pieces": [self.tokenizer.decode([t]) for t in ids],
                "entropy": entropy.float().tolist(), "reward": float(scores.sum()),
            })
        out = advantage_of_rows(rows, score=self._judge_scores, counters={"steps": self.global_steps, "total_steps": self.global_steps})
        L = max(len(r["response_ids"]) for r in rows)
        adv = torch.zeros((len(rows), L), dtype=torch.float32)
        for i, a in enumerate(out["advantages"]):
            adv[i, : len(a)] = torch.tensor(a, dtype=torch.float32)
        nested = response_to_nested(adv, response_mask)
        metrics["acpo/steps_per_response"] = sum(len(s["boundaries"]) - 1 if s else 1 for s in out["segmentations"]) / len(rows)
        return tq.kv_batch_put(keys=batch.keys, partition_id=batch.partition_id, fields=TensorDict({"advantages": nested, "returns": nested}, batch_size=len(batch)))

    def _judge_scores(self, queries):
        """Log-prob rows of the attribution judge, one per query ({seq, first, count}): each
        query is a sample whose prompt is seq without Y and whose response is Y, scored at
        temperature 1 by the actor (judge policy) or the reference worker (judge initial:
        the reference holds the initial model)."""
        keys, fields = [], []
        for k, q in enumerate(queries):
            seq = torch.tensor(q["seq"], dtype=torch.int64)
            cut = len(q["seq"]) - q["count"]
            keys.append(f"acpo_judge_{self.global_steps}_{k}")
            fields.append({
                "prompts": seq[:cut], "responses": seq[cut:], "input_ids": seq,
                "position_ids": torch.arange(len(seq), dtype=torch.int64),
                "response_mask": torch.ones(q["count"], dtype=torch.int64), "loss_mask": torch.ones(q["count"], dtype=torch.int64),
            })
        td = TensorDict({name: torch.nested.as_nested_tensor([f[name] for f in fields], layout=torch.jagged) for name in fields[0]}, batch_size=len(fields))
        meta = tq.kv_batch_put(keys=keys, partition_id=JUDGE_PARTITION, fields=td)
        meta.extra_info.update({"calculate_entropy": False, "compute_loss": False, "temperature": 1.0})
        if N.ATTRIBUTION["judge"] == "initial" and self.ref_in_actor:
            meta.extra_info["no_lora_adapter"] = True  # the base model under the LoRA adapter (as verl's reference)
            self.actor_rollout_wg.compute_log_prob(meta)
        elif N.ATTRIBUTION["judge"] == "initial":
            self.ref_policy_wg.compute_ref_log_prob(meta)
        else:
            self.actor_rollout_wg.compute_log_prob(meta)
        got = tq.kv_batch_get(keys=keys, partition_id=JUDGE_PARTITION, select_fields=["log_probs", "response_mask"])
        lp = response_from_nested(got["log_probs"], got["response_mask"]).unbind()
        tq.kv_clear(keys=keys, partition_id=JUDGE_PARTITION)
        return [[0.0] * q["first"] + lp[k].double().tolist() for k, q in enumerate(queries)]
