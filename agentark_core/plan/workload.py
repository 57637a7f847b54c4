"""What each stage of a recipe will do, in tokens, and what that costs (``costs``), before it runs.

The counts follow the stages' own arithmetic: the debate sends ``n_agents`` requests per question
per round (``rounds`` of them: consensus stop can only shorten this, so it is an upper bound) plus
one aggregator request; round k > 1 prompts carry the peers' previous replies. Replies fill
``fill`` of ``max_tokens`` on average (``Assumptions``: stated, not measured for the paper's
models). Training sets not yet extracted are sized from the paper's ratios (PAPER.md, Stage 2:
~6.0 trajectories per question with 5 agents on GSM8K, MetaMathQA and MedMCQA alike); a committed
upstream artifact's row count replaces any such guess (``Counts``).

Question counts: ``limit`` when set, else the split's size (``DATASET_ROWS``, the hub dataset
cards), capped by the limit; prompt sizes per dataset are estimates (``PROMPT_TOKENS``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agentark_core.plan.costs import (
    PRM_MFU,
    SFT_MFU,
    Decode,
    Gpu,
    decode_seconds,
    inference_peak_bytes,
    train_seconds,
    training_peak_bytes,
)
from agentark_core.plan.shapes import ModelShape

# Rows per split (hub dataset cards; QASPER counts questions, QMSum the SCROLLS rows).
DATASET_ROWS: dict[str, dict[str, int]] = {
    "gsm8k": {"train": 7473, "test": 1319},
    "math": {"train": 7500, "test": 5000},
    "math500": {"test": 500},
    "metamathqa": {"train": 395000},
    "medmcqa": {"train": 182822, "validation": 4183, "test": 6150},
    "hotpotqa": {"train": 90447, "validation": 7405},
    "qasper": {"train": 2593, "validation": 1005, "test": 1451},
    "qmsum": {"train": 1257, "validation": 272, "test": 281},
    "truthfulqa": {"validation": 817},
}
# Mean prompt tokens (question + context + the protocol's instructions): estimates, not measured.
PROMPT_TOKENS = {"gsm8k": 150, "math": 180, "math500": 180, "metamathqa": 150, "medmcqa": 170,
                 "hotpotqa": 450, "qasper": 700, "qmsum": 12000, "truthfulqa": 90, "toy": 60}
DEFAULT_PROMPT_TOKENS = 200


@dataclass(frozen=True)
class Assumptions:
    """Stated guesses the estimate rests on (``agentark plan`` prints them)."""

    fill: float = 0.5  # mean reply length / max_tokens
    trajectories_per_question_per_agent: float = 6.0 / 5  # PAPER.md: 44,838 / 7,473 with 5 agents
    verdict_tokens: int = 2  # an LLM verifier's guided true/false reply


@dataclass
class Counts:
    """What is known before the run: committed artifacts' rows by stage name, and the mean reply
    length (tokens) a committed debate measured, which replaces ``fill`` x ``max_tokens`` for the
    training sets built from it."""

    rows: dict[str, int] = field(default_factory=dict)
    debate_reply_tokens: float | None = None


@dataclass
class StageEstimate:
    """One stage's bill: tokens generated and trained on, GPU-hours (or, in the toy world, CPU seconds), peak
    memory per GPU, and the basis."""

    stage: str
    work: str
    gpus: int = 0
    generated_tokens: int = 0
    trained_tokens: int = 0
    gpu_seconds: float = 0.0
    peak_bytes: float = 0.0
    cpu_seconds: float = 0.0  # a toy-world stage's seconds on this machine's CPU cores (``plan.cpu``)
    basis: str = ""
    notes: list[str] = field(default_factory=list)


def question_count(section: Any, counts: Counts, stage: str) -> int | None:
    """Questions a data section yields: a committed ingest's rows, else limit / split size."""
    if stage in counts.rows:
        return counts.rows[stage]
    size = DATASET_ROWS.get(section.dataset, {}).get(section.split)
    if section.limit is None:
        return size
    return section.limit if size is None else min(section.limit, size)


def prompt_tokens(dataset: str) -> int:
    return PROMPT_TOKENS.get(dataset, DEFAULT_PROMPT_TOKENS)


def protocol_calls(protocol: str, n_agents: int, rounds: int) -> tuple[int, int, bool]:
    """(agents per round, rounds, aggregator call?) of a protocol, at most (consensus stop ignored)."""
    if protocol == "cot":
        return 1, 1, False
    if protocol == "self_consistency":
        return n_agents, 1, False
    return n_agents, rounds, True


def generation_work(shape: ModelShape, questions: int, prompt: int, max_tokens: int, protocol: str,
                    debate: Any, assume: Assumptions, tp: int, engine: str, shard: int) -> Decode:
    """The requests of ``protocol`` over ``questions``: round 1 sees the question, a later round the
    agent's own last reply and its peers' (``mas.debate._update_slot``), the aggregator every final
    reply; ``shard`` questions' round runs at once. On vLLM the question is computed once per question
    (prefix caching: the agents' prompts start with it), the replies each time they are new to a prompt."""
    agents, rounds, aggregator = protocol_calls(protocol, debate.n_agents, debate.rounds)
    reply = max_tokens * assume.fill
    later = prompt + agents * reply
    sequences = questions * (agents * rounds + aggregator)
    prompts = questions * (agents * prompt + agents * (rounds - 1) * later + aggregator * (prompt + agents * reply))
    computed = questions * (prompt + (agents * (rounds - 1) + aggregator) * agents * reply)
    return Decode(shape, sequences, int(prompts), int(sequences * reply), tp=tp, engine=engine,
                  concurrent=min(questions, shard) * agents, prefill_tokens=int(computed) if engine == "vllm" else None)


def longest_context(prompt: int, max_tokens: int, protocol: str, debate: Any) -> int:
    """The longest context a request can reach: a later round's or the aggregator's prompt with every
    reply at ``max_tokens``, plus its own reply."""
    agents, rounds, aggregator = protocol_calls(protocol, debate.n_agents, debate.rounds)
    return prompt + (agents * max_tokens if rounds > 1 or aggregator else 0) + max_tokens


def generation_estimate(stage: str, work: Decode, gpu: Gpu, memory_utilization: float = 0.9) -> StageEstimate:
    """Bill of a generating stage on one engine of ``work.tp`` GPUs."""
    seconds, running = decode_seconds(work, gpu)
    context = (work.prompt_tokens + work.new_tokens / 2) / max(1, work.sequences)
    share = "46.4%" if work.engine == "vllm" else "3.6%"
    return StageEstimate(
        stage, "generate", gpus=work.tp, generated_tokens=work.new_tokens, gpu_seconds=seconds * work.tp,
        peak_bytes=inference_peak_bytes(work.shape, gpu, work.tp, work.engine, memory_utilization, running, context),
        basis=f"{work.engine} decode at {share} of the weights+KV bandwidth floor (issue 18, H200), "
              f"{running} sequences running; prefill at 40% MFU (assumed)")


@dataclass(frozen=True)
class TrainKnobs:
    """The trainer-config values a training's cost depends on (read from the built config)."""

    epochs: float = 3.0
    max_steps: int = -1
    batch: int = 8
    grad_accum: int = 1
    max_length: int | None = None
    lora: bool = False


def sft_estimate(stage: str, shape: ModelShape, rows: int, row_tokens: float, knobs: TrainKnobs,
                 gpu: Gpu) -> StageEstimate:
    """R-SFT / DA: every row's prompt + target trained ``epochs`` times (or ``max_steps`` batches)."""
    row_tokens = min(row_tokens, knobs.max_length or row_tokens)
    seen = knobs.max_steps * knobs.batch * knobs.grad_accum if knobs.max_steps > 0 else rows * knobs.epochs
    tokens = seen * row_tokens
    return StageEstimate(
        stage, "train", gpus=1, trained_tokens=int(tokens), gpu_seconds=train_seconds(shape, tokens, gpu, SFT_MFU),
        peak_bytes=training_peak_bytes(shape, knobs.batch * row_tokens, knobs.lora),
        basis="6·params FLOPs/token at 40.3% MFU (bench_train_mfu.py, H100, SFT)")


def prm_estimate(stage: str, shape: ModelShape, traces: int, trace_tokens: float, config: Any,
                 gpu: Gpu) -> StageEstimate:
    """PRM (App. B.1): Stage I trains the last block + head (≈ a forward), Stage II every weight."""
    trace_tokens = min(trace_tokens, getattr(config, "max_length", None) or trace_tokens)
    per_batch = config.traces_per_batch * config.gradient_accumulation_steps

    def seen(steps: int, epochs: float) -> float:
        return steps * per_batch if steps > 0 else traces * epochs

    stage1 = seen(config.stage1_max_steps, config.stage1_epochs) * trace_tokens
    stage2 = seen(config.stage2_max_steps, config.stage2_epochs) * trace_tokens
    seconds = stage1 * 2 * shape.params / (PRM_MFU * gpu.peak_flops) + train_seconds(shape, stage2, gpu, PRM_MFU)
    return StageEstimate(
        stage, "train", gpus=1, trained_tokens=int(stage1 + stage2), gpu_seconds=seconds,
        peak_bytes=training_peak_bytes(shape, config.traces_per_batch * trace_tokens),
        basis="Stage I 2·params, Stage II 6·params FLOPs/token at 40.2% MFU (bench_train_mfu.py, H100, PRM)")


def rl_steps(config: Any, questions: int) -> tuple[int, int, int]:
    """``(optimizer steps, completions per step, frozen models scoring each rollout)`` of a GRPO or PPO config
    over ``questions`` prompts: ``max_steps``, else every prompt's group (G for GRPO, 1 for PPO) once per epoch;
    the frozen models are the PRM and, with a KL term (``beta`` / ``kl_coef`` > 0), the reference."""
    ppo = hasattr(config, "ppo_epochs")
    per_step = config.batch_size if ppo else config.per_device_train_batch_size * config.gradient_accumulation_steps
    group = 1 if ppo else config.num_generations
    epochs = getattr(config, "num_train_epochs", 1.0)
    steps = config.max_steps if config.max_steps > 0 else math.ceil(questions * group * epochs / per_step)
    return steps, per_step, 1 + (getattr(config, "beta", getattr(config, "kl_coef", 0)) > 0)


def rl_estimate(stage: str, shape: ModelShape, questions: int, prompt: int, config: Any, gpu: Gpu,
                assume: Assumptions) -> StageEstimate:
    """PAD's GRPO (or PPO): rollouts (vLLM when ``use_vllm``, else HF ``generate``), then the policy
    update over prompt + completion (6·params), the old/ref log-probs and the PRM's scoring (2·params each)."""
    ppo = hasattr(config, "ppo_epochs")
    steps, per_step, n_frozen = rl_steps(config, questions)
    completions = steps * per_step
    new = config.max_completion_length * assume.fill
    engine = "vllm" if getattr(config, "use_vllm", False) else "hf"
    work = Decode(shape, completions, completions * prompt, int(completions * new), engine=engine, concurrent=per_step)
    rollout, _ = decode_seconds(work, gpu)
    passes = config.ppo_epochs if ppo else getattr(config, "num_iterations", 1)
    frozen = (shape,) * n_frozen  # PRM, reference
    tokens = completions * (prompt + new)
    # the policy trains `passes` times over each rollout; the PRM and the reference score it once
    update = train_seconds(shape, tokens * passes, gpu, SFT_MFU) + \
        tokens * sum(2 * s.params for s in frozen) / (SFT_MFU * gpu.peak_flops)
    colocated = gpu.memory * (getattr(config, "vllm_gpu_memory_utilization", 0) or 0) if engine == "vllm" else 0
    lora = getattr(config, "lora_r", 0) > 0
    micro = (config.mini_batch_size or per_step) if ppo else config.per_device_train_batch_size
    return StageEstimate(
        stage, "train", gpus=1, generated_tokens=work.new_tokens, trained_tokens=int(tokens * passes),
        gpu_seconds=rollout + update,
        peak_bytes=training_peak_bytes(shape, micro * (prompt + new), lora, frozen, colocated),
        basis=f"{steps} steps x {per_step} completions; rollouts: {engine} decode (issue 18 floor shares); "
              "update 6·params + PRM/ref 2·params FLOPs/token at 40.3% MFU (assumed as SFT's)")
