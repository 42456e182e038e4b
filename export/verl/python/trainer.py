"""verl trainer for ACPO pipelines (segmentation, attribution, per-token entropy in the
advantage; stages with their own losses and references): verl's v1 synchronous trainer
(PPOTrainerSync) with `_compute_advantage` replaced and the stage chain added, registered
with @register_trainer under REGISTRY_NAME and selected by trainer.v1.trainer_mode
(config/<package>.yaml).

Stages (numerics.STAGES, schedule.py): after each step (on_step_end, once the update is
done and the rollout has the new weights) the schedule evaluates the stage's generated
`until`; at a switch the trainer freezes the policy as the reference when a later stage's
KL compares against it (the reference model in verl's ActorRolloutRefWorker is replaced by
the actor's weights: AcpoWorker below), loads the next stage's reference, and sends the
actor workers the next stage's loss (set_loss_fn: verl's ppo_loss with that stage's
loss_mode and KL settings).

NOT EXECUTED HERE: verl (with Ray and TransferQueue) is not installable on the machines acpo
is tested on. This file is kept to verl's calls, written against verl/trainer/ppo/v1/
trainer_base.py (_compute_old_log_prob, _compute_ref_log_prob, _compute_advantage,
_init_resource_pool_mgr, fit: on_step_end), trainer_sync.py, agent_loop_tq.py (the fields a
sample holds in TransferQueue), workers/engine_workers.py (ActorRolloutRefWorker: self.actor
and self.ref are TrainingWorkers whose .engine.module is the FSDP model; set_loss_fn) and
workers/utils/losses.py (ppo_loss reads loss_mode, use_kl_loss, kl_loss_coef, kl_loss_type). Everything else it calls,
acpo_step.advantage_of_rows (segmentation, attribution batches, the IR layout and the
generated advantage) and schedule.StageSchedule (the stage chain), runs in acpo's tests
without verl.

Why a subclass: verl's advantage step fetches uid, masks, scores and log-probs only; the
entropy verl computes with the old log-probs is stored (field "entropy") but never reaches
an advantage estimator, nor do the decoded text and the judge's forward passes ACPO needs.
"""
from contextlib import contextmanager
from functools import partial

import ray
import torch
import transfer_queue as tq
from omegaconf import OmegaConf
from tensordict import TensorDict
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, set_model_state_dict
from verl.single_controller.base.decorator import Dispatch, register
from verl.trainer.distillation import is_distillation_enabled
from verl.trainer.ppo.utils import Role
from verl.trainer.ppo.v1.trainer_base import register_trainer
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
from verl.utils.config import omega_conf_to_dataclass
from verl.utils.fsdp_utils import load_fsdp_model_to_gpu, offload_fsdp_model_to_cpu
from verl.workers.engine_workers import ActorRolloutRefWorker
from verl.workers.utils.losses import ppo_loss
from verl.workers.utils.padding import response_from_nested, response_to_nested

from . import numerics as N
from .acpo_step import advantage_of_rows
from .schedule import StageSchedule

JUDGE_PARTITION = "acpo_judge"


@contextmanager
def _resident(engine):
    """The engine's parameters on the GPU for the duration (verl's FSDP engine offloads them
    with param_offload; its save_checkpoint brings them back the same way)."""
    offloaded = getattr(engine, "_is_offload_param", False)
    if offloaded:
        load_fsdp_model_to_gpu(engine.module)
    try:
        yield engine.module
    finally:
        if offloaded:
            offload_fsdp_model_to_cpu(engine.module)


class AcpoWorker(ActorRolloutRefWorker):
    """verl's actor/rollout/reference worker whose reference model can be replaced: by the
    actor's weights (a policy frozen at a stage's end) or by a kept copy (the initial model).
    Copies per rank: the actor's full state dict from rank 0, broadcast into the reference
    (whatever either's sharding); kept copies are this rank's shards on the CPU."""

    def _engines(self):
        if self.ref is None:
            raise RuntimeError(f"acpo pipeline {N.NAME}: no reference model in the actor worker; actor_rollout_ref.actor.use_kl_loss must be true (config/{N.REGISTRY_NAME}.yaml sets it)")
        if self.config.actor.strategy not in ("fsdp", "fsdp2"):
            raise NotImplementedError(f"acpo pipeline {N.NAME}: replacing the reference's weights is implemented for FSDP (actor.strategy fsdp or fsdp2), not {self.config.actor.strategy}")
        return self.actor.engine, self.ref.engine

    @register(dispatch_mode=Dispatch.ONE_TO_ALL)
    def acpo_keep_reference(self, key):
        """Keep this rank's shards of the reference model on the CPU under `key`."""
        self._keep(key)

    def _keep(self, key):
        _, ref = self._engines()
        with _resident(ref) as module:
            self._acpo_kept = getattr(self, "_acpo_kept", {})
            self._acpo_kept[key] = get_model_state_dict(module, options=StateDictOptions(cpu_offload=True))

    @register(dispatch_mode=Dispatch.ONE_TO_ALL)
    def acpo_load_reference(self, key):
        """The reference model becomes the copy kept under `key`."""
        _, ref = self._engines()
        with _resident(ref) as module:
            set_model_state_dict(module, self._acpo_kept[key], options=StateDictOptions())

    @register(dispatch_mode=Dispatch.ONE_TO_ALL)
    def acpo_freeze_reference(self, key):
        """The reference model becomes a copy of the actor as it is now; kept under `key`."""
        actor, ref = self._engines()
        with _resident(actor) as module:
            full = get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        with _resident(ref) as module:
            set_model_state_dict(module, full, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
        del full
        self._keep(key)


@register_trainer(N.REGISTRY_NAME)
class AcpoTrainer(PPOTrainerSync):
    def _init_resource_pool_mgr(self):
        """verl's roles, with AcpoWorker as the actor/rollout/reference worker class."""
        super()._init_resource_pool_mgr()
        for role in (Role.ActorRolloutRef, Role.ActorRollout):
            if role in self.role_worker_mapping:
                self.role_worker_mapping[role] = ray.remote(AcpoWorker)

    def on_init_end(self):
        super().on_init_end()
        self.acpo_schedule = StageSchedule()
        self._acpo_loaded = "initial"  # what the reference model holds
        if not N.STAGED:
            return
        if is_distillation_enabled(self.config.get("distillation")):
            raise ValueError(f"acpo pipeline {N.NAME}: stages set verl's ppo_loss per stage, which distillation replaces; turn distillation off")
        if N.FREEZE and self.ref_in_actor:
            raise ValueError(f"acpo pipeline {N.NAME}: stage {N.FREEZE[0]}'s policy becomes a reference, but with LoRA verl's reference is the actor without its adapter (the initial model); train without LoRA")
        if self.global_steps > 0:
            switches = self.acpo_schedule.replay(self.global_steps)
            if any(e["freeze"] for e in switches):
                raise NotImplementedError(f"acpo pipeline {N.NAME}: resuming after stage {N.FREEZE[0]} froze the reference: verl's checkpoints do not hold it")
        if N.FREEZE:
            self.actor_rollout_wg.acpo_keep_reference("initial")
        self._acpo_enter_stage()

    def _acpo_actor_config(self, stage):
        """The actor config with stage `stage`'s loss_mode and KL settings (ppo_loss reads them)."""
        s = N.STAGES[stage]
        overrides = {"policy_loss": {"loss_mode": s["loss_mode"]}, "use_kl_loss": s["kl"] is not None}
        if s["kl"] is not None:
            overrides.update(kl_loss_type=s["kl"]["type"], kl_loss_coef=s["kl"]["coef"])
        return omega_conf_to_dataclass(OmegaConf.merge(self.config.actor_rollout_ref.actor, overrides))

    def _acpo_use_reference(self, key):
        if key != self._acpo_loaded:
            self.actor_rollout_wg.acpo_load_reference(key)
            self._acpo_loaded = key

    def _acpo_enter_stage(self):
        stage = self.acpo_schedule.stage
        if N.STAGES[stage]["reference"] is not None:
            self._acpo_use_reference(N.STAGES[stage]["reference"])
        self.actor_rollout_wg.set_loss_fn(partial(ppo_loss, config=self._acpo_actor_config(stage)))

    def on_step_end(self):
        """After the step's update (verl's on_step_end syncs the rollout's weights): the stage's
        `until` on the counters (global_steps = steps completed in the run)."""
        super().on_step_end()
        if not N.STAGED:
            return
        switch = self.acpo_schedule.after_step(self.global_steps)
        if switch is None:
            return
        if switch["freeze"] is not None:
            self.actor_rollout_wg.acpo_freeze_reference(switch["freeze"])
            self._acpo_loaded = switch["freeze"]
        if switch["next"] is not None:
            self._acpo_enter_stage()

    def _compute_advantage(self, batch, metrics):
        """acpo's advantage from rewards, entropy, decoded text and attribution; written back
        as verl's _compute_advantage writes its own (nested advantages and returns)."""
        metrics["acpo/stage"] = list(N.STAGES).index(self.acpo_schedule.stage)
        if not N.ACPO_ADVANTAGE:
            return super()._compute_advantage(batch, metrics)
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
            # After a freeze the reference model holds a stage's policy: the initial model for the judge, then back.
            current = self._acpo_loaded
            self._acpo_use_reference("initial")
            self.ref_policy_wg.compute_ref_log_prob(meta)
            self._acpo_use_reference(current)
        else:
            self.actor_rollout_wg.compute_log_prob(meta)
        got = tq.kv_batch_get(keys=keys, partition_id=JUDGE_PARTITION, select_fields=["log_probs", "response_mask"])
        lp = response_from_nested(got["log_probs"], got["response_mask"]).unbind()
        tq.kv_clear(keys=keys, partition_id=JUDGE_PARTITION)
        return [[0.0] * q["first"] + lp[k].double().tolist() for k, q in enumerate(queries)]
