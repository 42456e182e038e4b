"""Registers the pipeline's advantage estimator and policy loss with verl, under the
name acpo_<pipeline> (REGISTRY_NAME) (verl.plugins entry point; see README.md).

With segmentation, attribution or entropy in the advantage, or stages with their own losses,
it also imports trainer.py, which registers the ACPO trainer (verl v1 register_trainer) under
the same name. A staged pipeline registers one policy loss per stage, under the stage's
loss_mode (numerics.STAGES); the trainer selects the current stage's.

NOT EXECUTED HERE: verl is not installable on the machines acpo is tested on. This file is
kept to the registration calls; everything it calls (adapters.py, numerics.py) runs in
acpo's tests. Signatures follow verl/trainer/ppo/core_algos.py (register_adv_est:
token_level_rewards, response_mask, index, config -> (advantages, returns);
register_policy_loss: old_log_prob, log_prob, advantages, response_mask, loss_agg_mode,
config, rollout_is_weights -> (loss, metrics)).
"""
from verl.trainer.ppo.core_algos import register_adv_est, register_policy_loss

from . import numerics as N
from .adapters import advantage_from_verl, policy_loss_from_verl


if N.USES_TRAINER:
    # The trainer subclass computes the advantage (segmentation, attribution, entropy) or switches stages.
    from . import trainer  # noqa: F401  (registers AcpoTrainer under REGISTRY_NAME)


@register_adv_est(N.REGISTRY_NAME)
def acpo_advantage(token_level_rewards, response_mask, index=None, config=None, **kwargs):
    if N.ACPO_ADVANTAGE:
        raise ValueError(f"acpo pipeline {N.NAME}: the advantage needs entropy, decoded text or attribution; set trainer.use_v1=true and trainer.v1.trainer_mode={N.REGISTRY_NAME} (config/{N.REGISTRY_NAME}.yaml does)")
    return advantage_from_verl(token_level_rewards, response_mask, index)


def _policy_loss_of(stage):
    def acpo_policy_loss(old_log_prob, log_prob, advantages, response_mask, loss_agg_mode="token-mean", config=None, rollout_is_weights=None):
        if loss_agg_mode != N.VERL_LOSS_AGG_MODE:
            raise ValueError(f"acpo pipeline {N.NAME} aggregates with {N.AGGREGATE} (verl: {N.VERL_LOSS_AGG_MODE}), but actor.loss_agg_mode is {loss_agg_mode}")
        info = dict(getattr(config, "global_batch_info", None) or {})
        return policy_loss_from_verl(old_log_prob, log_prob, advantages, response_mask, info, rollout_is_weights, stage=stage)
    return acpo_policy_loss


# One registered loss per loss_mode: per stage when staged, else one for all stages (the same loss).
for _mode, _stage in {N.STAGES[s]["loss_mode"]: s for s in N.STAGES}.items():
    register_policy_loss(_mode)(_policy_loss_of(_stage))
