"""PPO ablation of PAD (paper App. B.2 / C.2): the GRPO objective with a learned value baseline, in plain PyTorch.

TRL 1.16 has no PPO trainer, so this is a compact one. Per rollout batch:

1. sample one completion per prompt from the student (chat template; HF ``generate`` with sampling, or
   with ``use_vllm`` a vLLM engine holding the policy's current weights, :mod:`agentark_core.train.ppo_vllm`);
2. score it with the SAME reward callables as GRPO (:func:`~agentark_core.train.rl_common.build_reward_funcs`);
   the sequence reward sits on the last completion token, every token also gets ``−kl_coef · (log π − log π_ref)``
   against the frozen initial policy (the k1 estimate of the KL on the sampled token; the logged ``kl`` is
   the k3 estimate, :func:`k3_kl`, the one TRL's GRPO logs, so the two optimisers' KL columns compare);
3. GAE(γ, λ) over completion tokens with the value baseline, then ``ppo_epochs`` passes of the clipped
   policy loss + ``vf_coef`` · clipped value loss.

Logged per step (``loss_curve``) under GRPO's names, so the report sets the two side by side: the total
and per-reward means (``rewards/<name>/mean``; the verifiable reward at weight 0 where the recipe does not
weight it, as GRPO's :func:`~agentark_core.train.reward_check.monitored_rewards`), the PRM-vs-verifiable
agreement of the same rollouts (``prm_check/*``), KL, the policy's entropy on its rollouts and the clip
fraction; ``heldout_prompts`` (the last prompts, as GRPO's) are sampled before step 1 and every
``eval_steps`` (``eval_curve``, GRPO's row format).

Value head: ``Linear(hidden, 1)`` on the policy's own last hidden states (a shared backbone, as
TRL's former ``AutoModelForCausalLMWithValueHead``): no second copy of the student in memory, at the
price of value gradients also shaping the policy's backbone (``vf_coef`` keeps them small). The value
of completion token t is read at the position that predicts it. Log-probs use ``logits / temperature``,
the distribution actually sampled.

Example:
    >>> metrics = train_ppo("student/", prompts_df, "ckpt/", AgentArkPPOConfig(max_steps=50), prm_path="prm/")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from agentark_core.train import distributed
from agentark_core.train.engine import TrainEngine
from agentark_core.train.gain_lr import split_gain_groups
from agentark_core.train.ppo_loss import gae, k3_kl, masked_mean, policy_loss, value_loss
from agentark_core.train.ppo_vllm import VLLMSampler
from agentark_core.train.progress import LossBar
from agentark_core.train.reward_check import monitored_rewards
from agentark_core.train.rl_common import build_reward_funcs, load_prompts, score_completions, split_heldout

logger = logging.getLogger(__name__)

VALUE_HEAD_FILE = "value_head.safetensors"


class PolicyWithValue(nn.Module):
    """The student CausalLM + a scalar value head on its last hidden states."""

    def __init__(self, policy) -> None:
        super().__init__()
        self.policy = policy
        self.value_head = nn.Linear(policy.config.get_text_config().hidden_size, 1, dtype=torch.float32)
        nn.init.zeros_(self.value_head.bias)

    def forward(self, *args, **kwargs):
        """:meth:`score`: called through ``DistributedDataParallel``, which syncs gradients of forward calls."""
        return self.score(*args, **kwargs)

    def score(self, sequences, attention_mask, prompt_len: int, temperature: float, with_entropy: bool = False):
        """Log-prob and value (and with ``with_entropy`` the policy's entropy) of every completion token.

        Args:
            sequences: ``(batch, prompt_len + T)`` prompt (left-padded) + completion ids.
            attention_mask: same shape, 0 on padding.
            prompt_len: padded prompt width; completion tokens start there.
            temperature: logits are divided by it (the sampling distribution).

        Returns:
            ``(logp, values, entropy)``, each ``(batch, T)`` float32; ``entropy`` (of the temperature-scaled
            distribution, as GRPO's) is None unless asked for.
        """
        out = self.policy(input_ids=sequences, attention_mask=attention_mask, output_hidden_states=True)
        log_probs = torch.log_softmax(out.logits[:, prompt_len - 1 : -1].float() / temperature, -1)
        logp = log_probs.gather(-1, sequences[:, prompt_len:, None]).squeeze(-1)
        entropy = None
        if with_entropy:  # one row at a time: p · log p of a whole batch is another (batch, T, vocab) fp32 copy
            entropy = torch.stack([-(row.exp() * row).sum(-1) for row in log_probs])
        hidden = out.hidden_states[-1][:, prompt_len - 1 : -1].float()
        return logp, self.value_head(hidden).squeeze(-1), entropy


def completion_mask(completion_ids: torch.Tensor, eos_token_ids: int | list[int]) -> torch.Tensor:
    """``(batch, T)`` float mask: 1 up to and including the first end-of-sequence token (any of
    ``eos_token_ids``), 0 after it."""
    stops = torch.tensor(eos_token_ids, device=completion_ids.device).reshape(-1)
    is_eos = torch.isin(completion_ids, stops).long()
    return ((is_eos.cumsum(1) - is_eos) == 0).float()


def stop_token_ids(policy, tokenizer) -> list[int]:
    """Every id HF ``generate`` stops on: the tokenizer's end-of-sequence id and the generation config's
    (Qwen3's lists ``<|im_end|>`` and ``<|endoftext|>``, and pads with the latter: a mask ending only at the
    tokenizer's id would train on the padding after an ``<|endoftext|>``)."""
    configured = getattr(policy.generation_config, "eos_token_id", None)
    configured = [] if configured is None else [configured] if isinstance(configured, int) else list(configured)
    return sorted({tokenizer.eos_token_id, *configured})


def sample(model: PolicyWithValue, tokenizer, rows: list[dict], config, engine, trainer: TrainEngine) -> tuple:
    """Generate one completion per prompt (chat template, left padding, sampling).

    ``engine`` (a :class:`~agentark_core.train.ppo_vllm.VLLMSampler`, with ``use_vllm``) samples on vLLM
    with the policy's current weights; None samples with HF ``generate``. ``trainer`` (the
    :class:`~agentark_core.train.engine.TrainEngine`) gives the weights whole under ZeRO-3: vLLM receives
    them one submodule at a time; ``generate`` runs on the policy gathered whole (``TrainEngine.generating``).

    Returns:
        ``(sequences, attention_mask, mask, prompt_len, texts)``: ``(batch, prompt_len + T)`` ids and
        attention mask, the ``(batch, T)`` completion mask and the decoded completions.
    """
    device = model.value_head.weight.device
    texts = [
        tokenizer.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) for r in rows
    ]
    enc = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
    enc = {k: v.to(device) for k, v in enc.items()}
    prompt_len = enc["input_ids"].shape[1]
    if engine is not None:
        sequences, mask = engine.sample(trainer.full_parameters(model.policy), enc, config, tokenizer.eos_token_id)
    else:
        stops = stop_token_ids(model.policy, tokenizer)
        with trainer.generating():
            sequences = model.policy.generate(
                **enc,
                do_sample=True,
                temperature=config.temperature,
                top_p=1.0,
                top_k=0,
                max_new_tokens=config.max_completion_length,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=stops,
            )
        mask = completion_mask(sequences[:, prompt_len:], stops)
    attention_mask = torch.cat([enc["attention_mask"], mask.long()], 1)
    completions = tokenizer.batch_decode(sequences[:, prompt_len:] * mask.long(), skip_special_tokens=True)
    return sequences, attention_mask, mask, prompt_len, completions


@torch.no_grad()
def rollout(model: PolicyWithValue, ref, tokenizer, rows: list[dict], reward_fns, config, engine,
            trainer: TrainEngine) -> dict:
    """Sample, score with the rewards, and compute per-token rewards, advantages and returns.

    Args:
        model: policy + value head (in eval mode, on its device).
        ref: frozen reference CausalLM, or None when ``kl_coef == 0``.
        tokenizer: the student's tokenizer.
        rows: prompt rows from :func:`~agentark_core.train.rl_common.load_prompts`.
        reward_fns: ``(funcs, weights)`` from :func:`~agentark_core.train.rl_common.build_reward_funcs`.
        config: an :class:`~agentark_core.train.ppo_config.AgentArkPPOConfig`.
        engine, trainer: the vLLM sampler (``use_vllm``) or None (HF ``generate``), and the train engine,
            as :func:`sample`.

    Returns:
        ``batch`` (dict of ``(batch, ·)`` tensors: sequences, attention_mask, mask, old_logp, old_values,
        advantages, returns), ``prompt_len``, ``rewards`` (sequence rewards) and ``metrics``: the rewards'
        means and ``prm_check/*`` (:func:`score_rollouts`), ``kl`` (:func:`k3_kl`) and ``entropy`` (token means).
    """
    sequences, attention_mask, mask, prompt_len, completions = sample(model, tokenizer, rows, config, engine, trainer)
    checks: dict[str, float] = {}  # the reward-hacking monitor's prm_check/* of this batch
    seq_rewards, metrics = score_rollouts(rows, completions, reward_fns, log_metric=checks.__setitem__)
    old_logp, old_values, entropy = model.score(sequences, attention_mask, prompt_len, config.temperature, True)
    kl, logged_kl = torch.zeros_like(old_logp), torch.zeros_like(old_logp)
    if ref is not None:
        ref_logits = ref(input_ids=sequences, attention_mask=attention_mask).logits[:, prompt_len - 1 : -1]
        ref_logp = torch.log_softmax(ref_logits.float() / config.temperature, -1)
        ref_logp = ref_logp.gather(-1, sequences[:, prompt_len:, None]).squeeze(-1)
        kl, logged_kl = (old_logp - ref_logp) * mask, k3_kl(old_logp, ref_logp) * mask
    token_rewards = -config.kl_coef * kl
    rows_idx, last = torch.arange(len(rows), device=mask.device), mask.sum(1).long() - 1
    token_rewards[rows_idx, last] += torch.tensor(seq_rewards, device=mask.device)
    advantages, returns = gae(token_rewards, old_values * mask, mask, config.gamma, config.lam)
    if config.whiten_advantages and mask.sum() > 1:
        mean = masked_mean(advantages, mask)
        std = masked_mean((advantages - mean) ** 2, mask).sqrt()
        advantages = (advantages - mean) / (std + 1e-8) * mask
    batch = {"sequences": sequences, "attention_mask": attention_mask, "mask": mask, "old_logp": old_logp}
    batch.update(old_values=old_values, advantages=advantages, returns=returns)
    metrics |= checks | {"kl": masked_mean(logged_kl, mask).item(), "entropy": masked_mean(entropy, mask).item()}
    return {"batch": batch, "prompt_len": prompt_len, "rewards": seq_rewards, "metrics": metrics}


def score_rollouts(rows: list[dict], completions: list[str], reward_fns, **kwargs) -> tuple[list[float], dict]:
    """The rewards of one completion per prompt row: ``(totals, means)`` of
    :func:`~agentark_core.train.rl_common.score_completions` (``kwargs``, e.g. ``log_metric``, go to the
    reward callables with the rows' dataset columns)."""
    columns = {k: [r[k] for r in rows] for k in ("question_id", "gt", "task_type", "choices")}
    messages = [[{"role": "assistant", "content": c}] for c in completions]
    return score_completions(*reward_fns, [r["prompt"] for r in rows], messages, **columns, **kwargs)


@torch.no_grad()
def evaluate_heldout(model: PolicyWithValue, tokenizer, rows: list[dict], reward_fns, config, engine,
                     trainer: TrainEngine) -> dict:
    """One sampled completion per held-out prompt (``batch_size`` at a time), scored with the training rewards:
    ``reward`` and ``rewards/<name>/mean``, the row format of GRPO's ``eval_curve`` (without ``step``)."""
    completions = []
    for start in range(0, len(rows), config.batch_size):
        batch = rows[start : start + config.batch_size]
        completions += sample(model, tokenizer, batch, config, engine, trainer)[-1]
    return score_rollouts(rows, completions, reward_fns)[1]


def ppo_update(trainer: TrainEngine, data: dict, config) -> dict[str, float]:
    """``ppo_epochs`` passes of clipped policy + value loss over one rollout, one optimizer step per mini-batch
    through ``trainer`` (the policy + value head, or its DDP / DeepSpeed wrapper: every process must then make
    the same number of updates, same batch size and ``mini_batch_size``); returns mean loss stats."""
    batch, n = data["batch"], data["batch"]["sequences"].shape[0]
    size = config.mini_batch_size or n
    stats = {"loss": 0.0, "policy_loss": 0.0, "value_loss": 0.0, "clip_frac": 0.0}
    updates = 0
    for _ in range(config.ppo_epochs):
        order = torch.randperm(n)
        for start in range(0, n, size):
            mb = {k: v[order[start : start + size]] for k, v in batch.items()}
            logp, values, _ = trainer.model(mb["sequences"], mb["attention_mask"], data["prompt_len"],
                                            config.temperature)
            pg, clip_frac = policy_loss(
                logp, mb["old_logp"], mb["advantages"], mb["mask"], config.clip_epsilon
            )
            vf = value_loss(values, mb["old_values"], mb["returns"], mb["mask"], config.value_clip)
            loss = pg + config.vf_coef * vf
            trainer.backward(loss)
            trainer.step()
            for key, value in zip(stats, (loss, pg, vf, clip_frac)):
                stats[key] += float(value.detach())
            updates += 1
    return {k: v / updates for k, v in stats.items()}


def train_ppo(model_path: str, prompts_df: Any, output_dir: str, config, prm_path: str | None = None) -> dict:
    """Train the student with PPO on the PRMVR reward and save an HF checkpoint (+ the value head).

    Args:
        model_path: HF folder of the student.
        prompts_df: rows with ``question_id``, ``prompt``, ``gt``, ``task_type``, ``choices`` (as for GRPO).
        output_dir: receives the policy and tokenizer (``save_pretrained``) and ``value_head.safetensors``.
        config: an :class:`~agentark_core.train.ppo_config.AgentArkPPOConfig`.
        prm_path: folder of a saved PRM; None = verifiable reward only.

    Returns:
        Metrics as GRPO's: ``loss_curve`` (per step: step, loss, policy_loss, value_loss, clip_frac, reward,
        ``rewards/<name>/mean``, ``prm_check/*``, kl, entropy; a NaN statistic is left out), ``eval_curve``
        (step, reward, ``rewards/<name>/mean`` of the held-out prompts), ``reward_mean`` and ``kl`` per step,
        ``train_runtime`` (s, the training loop and its evaluations, as TRL's), ``global_step``,
        ``num_prompts`` (trained on), ``num_prompts_filtered``, ``num_heldout_prompts``, ``reward_funcs``,
        ``reward_weights``, ``algorithm`` ("ppo") and ``seed``.

    Under ``accelerate launch`` (``train.launch.ppo``, ``ddp``) every process samples its own share of one
    prompt draw (``batch_size`` each), its own engine or ``generate`` on its GPU, and scores with its own
    PRM copy; ``DistributedDataParallel`` (``ddp``) or a DeepSpeed engine (``zero2`` / ``zero3``,
    :mod:`agentark_core.train.engine`) averages the gradients, the logged rows are means over processes,
    rank 0 alone records the held-out prompts' rewards and saves (under ZeRO-3 every process samples them
    and takes part in gathering the weights to save; the reference model stays whole on every GPU).
    """
    from transformers import AutoTokenizer

    from agentark_core.train.speed import prepare_training_process

    prepare_training_process()
    device = distributed.setup()  # several processes under `accelerate launch`: one rollout batch each, DDP
    device = torch.device(config.device) if config.device else device
    torch.manual_seed(config.seed)  # the value head starts alike everywhere (DDP also broadcasts rank 0's)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    rows, dropped = load_prompts(prompts_df, tokenizer, config.max_prompt_length)
    rows, heldout = split_heldout(rows, config.heldout_prompts)
    prm = None
    if prm_path is not None and config.prm_weight > 0:
        from agentark_core.train.prm_model import PRM

        prm = PRM.load(prm_path).to(device).requires_grad_(False)
    # + the verifiable reward at weight 0 when unweighted, and the PRM-vs-verifiable check (as GRPO's)
    reward_fns = monitored_rewards(*build_reward_funcs(config, prm))
    engine = VLLMSampler(model_path, config, device) if config.use_vllm else None  # refuses a CPU first
    model, ref = load_models(model_path, config.kl_coef > 0, device)
    groups = [{"params": list(model.parameters()), "lr": config.learning_rate, "weight_decay": 0.01}]  # torch's
    groups = split_gain_groups(groups, model.policy, config.gain_learning_rate)
    trainer = TrainEngine(model, groups, 1, config.max_grad_norm, device, unused_parameters=False)  # loss reads all
    ranks, rank, main = distributed.world_size(), distributed.rank(), distributed.is_main()
    samplers = main or trainer.stage == 3  # ZeRO-3: a forward is a collective, so every process samples held-out

    def heldout_row(step: int) -> None:
        if heldout and samplers:
            rewards = evaluate_heldout(model, tokenizer, heldout, reward_fns, config, engine, trainer)
            evals.extend([{"step": step, **rewards}] if main else [])

    per_rank = min(config.batch_size, len(rows) // ranks)  # equal shares: DDP needs equal update counts
    if per_rank < 1:
        raise ValueError(f"{len(rows)} training prompts cannot give each of {ranks} processes a rollout batch")
    torch.manual_seed(config.seed + rank)  # each process samples its own completions
    order, curve, evals, start = random.Random(config.seed), [], [], time.perf_counter()
    for step in (bar := LossBar(range(1, config.max_steps + 1), "PPO", disable=not main)):
        if step == 1:
            heldout_row(0)
        began = time.perf_counter()
        batch = order.sample(rows, per_rank * ranks)[rank::ranks]  # one draw everywhere, each its own share
        data = rollout(model, ref, tokenizer, batch, reward_fns, config, engine, trainer)
        row = distributed.all_mean_row({**ppo_update(trainer, data, config), **data["metrics"]})
        curve.append(_finite({"step": step, **row, "step_time": time.perf_counter() - began}))
        if step % config.eval_steps == 0:
            heldout_row(step)
        bar.show(curve[-1]["loss"], reward=curve[-1]["reward"])
        logger.debug("PPO step %d: %s", step, curve[-1])
    runtime = time.perf_counter() - start
    state = trainer.full_state_dict(model)  # rank 0: the whole policy + value head, also under ZeRO-3
    if main:
        save_policy(model, tokenizer, output_dir, state)
    distributed.barrier()
    return {
        "loss_curve": curve, "eval_curve": [_finite(row) for row in evals],
        "reward_mean": [row["reward"] for row in curve], "kl": [row["kl"] for row in curve],
        "train_runtime": runtime, "global_step": config.max_steps, "num_prompts": len(rows),
        "num_prompts_filtered": dropped, "num_heldout_prompts": len(heldout),
        "reward_funcs": [f.__name__ for f in reward_fns[0]], "reward_weights": [float(w) for w in reward_fns[1]],
        "algorithm": "ppo", "seed": config.seed,
    }


def _finite(row: dict) -> dict:
    """``row`` without its NaN statistics (e.g. no wrong rollout in the batch: no PRM score of wrong ones)."""
    return {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}


def load_models(model_path: str, with_ref: bool, device) -> tuple[PolicyWithValue, Any]:
    """The trainable policy + value head and (if ``with_ref``) a frozen reference copy, fp32, in eval mode
    (no dropout: log-prob ratios must be 1 before the first update)."""
    from transformers import AutoModelForCausalLM

    from agentark_core.llm.cpu_sampling import install_fast_sampling

    policy = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    install_fast_sampling(policy)  # sampling on CPU without torch.multinomial's cost
    model = PolicyWithValue(policy)
    ref = None
    if with_ref:
        ref = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).requires_grad_(False)
        ref = ref.to(device).eval()
    return model.to(device).eval(), ref


def save_policy(model: PolicyWithValue, tokenizer, output_dir: str, state: dict) -> None:
    """Write the policy + tokenizer in HF format and the value head as safetensors, from ``state`` (the
    whole ``model.state_dict()``, :meth:`~agentark_core.train.engine.TrainEngine.full_state_dict`)."""
    from safetensors.torch import save_file

    parts = {"policy.": {}, "value_head.": {}}
    for name, tensor in state.items():
        prefix = "policy." if name.startswith("policy.") else "value_head."
        parts[prefix][name.removeprefix(prefix)] = tensor.contiguous()
    model.policy.save_pretrained(output_dir, state_dict=parts["policy."])
    tokenizer.save_pretrained(output_dir)
    save_file(parts["value_head."], str(Path(output_dir) / VALUE_HEAD_FILE))
