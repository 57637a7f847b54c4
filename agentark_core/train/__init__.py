"""Distillation training (paper §3.3): pure functions from plain rows + paths to HF checkpoints + metrics.

- ``sft`` / ``sft_config``: R-SFT with an answer-loss weight and DA (per-example 1/k weights), on TRL.
- ``prm_model`` / ``prm_loss`` / ``prm_train``: the process reward model, its contrastive/BCE step
  losses and the two-stage curriculum.
- ``rewards``: GRPO reward callables (verifiable answer, PRM step aggregate) and group advantages.
- ``grpo`` / ``grpo_config``: PAD's RL stage on TRL's ``GRPOTrainer`` with the PRMVR reward.
- ``ppo`` / ``ppo_config``: the PPO ablation (learned value baseline) in plain PyTorch.
- ``rl_common``: what both share: reward options and builder, prompt loading with a length filter.

Submodules import torch/transformers/trl; this package itself imports nothing heavy.
"""
