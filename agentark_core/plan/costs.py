"""GPU time and memory of generation and training, from model shapes and this project's measurements.

Every rate here is anchored on a number the project measured, scaled by a stated physical model:

- **Decode** is memory-bound: each step reads the weights once (split over ``tp`` GPUs) plus every
  running sequence's KV cache, and emits one token per sequence (the floor of
  ``bench/bench_generation_gpu.py``), but a step is never faster than a per-layer latency measured on
  small GRPO rollout batches (``STEP_FLOOR_PER_LAYER``). Measured (issue 18, H200, Qwen3-0.6B shape, 160 requests,
  609-token prompts, 256 new tokens): raw vLLM 0.26 21,195 tok/s = 46.4% of that floor at the
  copy bandwidth measured there (4.2 TB/s, 87.5% of the nominal 4.8); the transformers backend
  (HF ``generate``, micro-batch 160; what TRL's rollouts use without vLLM) 1,633 tok/s = 3.6%.
  So a vLLM decode runs at ``VLLM_FLOOR_SHARE`` of the floor at ``MEASURED_BANDWIDTH_SHARE`` of
  the GPU's nominal bandwidth, for any shape, batch and context.
- **Prefill** (prompt tokens) is compute-bound: 2·params FLOPs per token at ``PREFILL_MFU``, an
  assumption (not measured here), the training MFU.
- **Training** is compute-bound: 6·params FLOPs per trained token (forward + backward), 2·params per
  token of a frozen model's forward, at the MFU ``bench/bench_train_mfu.py`` measured on an H100
  (Qwen3-0.6B shape, run H: SFT 40.3%, PRM 40.2%).
- **Training memory**: fp32 master weights + gradients + AdamW moments (16 bytes per trained
  parameter; the trainers keep fp32 weights under bf16 autocast), frozen models in bf16, and
  activations per token scaled from the same run (SFT b32: peak 48.3 GiB at 29,568 tokens per
  micro-batch) by hidden·layers.

Attention FLOPs and the LM head's share are left out (≤ 10% at these lengths); data loading,
checkpoint writes and engine start-up are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from agentark_core.plan.shapes import KNOWN_SHAPES, ModelShape

GIB = 1024 ** 3


@dataclass(frozen=True)
class Gpu:
    """A GPU kind: dense bf16 peak (FLOP/s), nominal HBM bandwidth (bytes/s) and memory (bytes)."""

    name: str
    peak_flops: float
    bandwidth: float
    memory: float


# NVIDIA H100 SXM / H200 SXM datasheets (dense bf16 989 TFLOP/s; HBM3 3.35 TB/s, HBM3e 4.8 TB/s).
GPUS = {
    "H100": Gpu("H100", 989e12, 3.35e12, 80 * GIB),
    "H200": Gpu("H200", 989e12, 4.8e12, 141 * GIB),
}

# issue 18 / bench/bench_generation_gpu.py (H200): measured floor shares and bandwidth.
VLLM_FLOOR_SHARE = 0.464
HF_FLOOR_SHARE = 0.036
MEASURED_BANDWIDTH_SHARE = 4.2 / 4.8
VLLM_MAX_NUM_SEQS = 256  # vLLM's default scheduler bound on running sequences
# A decode step never takes less than its layers' fixed costs (kernel launches, scheduling, sampling),
# whatever the bytes: measured in GRPO rollouts of 64 sequences x 256 tokens (bench_grpo_step.py, H200,
# Qwen3-0.6B shape, 28 layers, 2026-11-27): TRL's colocated vLLM 1.712 s (rollout less weight sync) =
# 6.7 ms a step, TRL's HF generate 10.149 s = 39.6 ms a step, where the bytes alone would take ~1.2 ms.
STEP_FLOOR_PER_LAYER = {"vllm": 1.712 / 256 / 28, "hf": 10.149 / 256 / 28}
# bench/bench_train_mfu.py, run H (H100): SFT 40.3%, PRM 40.2%; prefill: assumed equal.
SFT_MFU = 0.403
PRM_MFU = 0.402
PREFILL_MFU = 0.40
# bench/bench_train_mfu.py, run H: SFT b32, Qwen3-0.6B shape, peak 48.3 GiB at 29,568 tokens per micro-batch.
_MFU_RUN_SHAPE = KNOWN_SHAPES["Qwen/Qwen3-0.6B"]
ACTIVATION_BYTES_PER_TOKEN_PER_HIDDEN_LAYER = (
    (48.3 * GIB - 16 * _MFU_RUN_SHAPE.params) / 29_568 / (_MFU_RUN_SHAPE.hidden * _MFU_RUN_SHAPE.layers))


@dataclass(frozen=True)
class Decode:
    """A generation workload: ``sequences`` requests, ``new_tokens`` generated in all, prompts of
    ``prompt_tokens`` in all, on ``tp`` GPUs (tensor parallel) of one engine; ``prefill_tokens`` of those
    prompts are computed (None = all: no prefix shared, or an engine without vLLM's prefix cache)."""

    shape: ModelShape
    sequences: int
    prompt_tokens: int
    new_tokens: int
    tp: int = 1
    engine: str = "vllm"  # vllm | hf
    concurrent: int | None = None  # sequences the caller can submit at once (a round's requests)
    prefill_tokens: int | None = None


def kv_capacity_tokens(shape: ModelShape, gpu: Gpu, tp: int, memory_utilization: float = 0.9) -> int:
    """Tokens of KV cache that fit beside the weights in ``memory_utilization`` of ``tp`` GPUs."""
    free = tp * gpu.memory * memory_utilization - shape.weight_bytes
    return max(0, int(free // shape.kv_bytes_per_token))


def decode_seconds(work: Decode, gpu: Gpu) -> tuple[float, int]:
    """Wall seconds of ``work`` on one engine and the sequences it runs at once.

    Running sequences = the requests submitted at once, at most vLLM's ``max_num_seqs`` and what the
    KV cache holds at the mean context (prompt + half the new tokens). Each step reads the weights
    plus their KV cache at ``share`` of the bandwidth, and takes at least ``STEP_FLOOR_PER_LAYER``
    per layer (small batches are latency-bound); prefill adds 2·params FLOPs per computed prompt token.

    Raises:
        ValueError: the weights do not fit the engine's GPUs.
    """
    if work.sequences == 0:
        return 0.0, 0
    share = VLLM_FLOOR_SHARE if work.engine == "vllm" else HF_FLOOR_SHARE
    per_seq_new = work.new_tokens / work.sequences
    context = work.prompt_tokens / work.sequences + per_seq_new / 2
    capacity = kv_capacity_tokens(work.shape, gpu, work.tp)
    if capacity < context:
        raise ValueError(f"a {work.shape.params / 1e9:.1f}B model with {context:.0f}-token contexts does not fit "
                         f"{work.tp} x {gpu.name} (tensor_parallel_size too small)")
    running = min(work.concurrent or work.sequences, work.sequences, VLLM_MAX_NUM_SEQS, int(capacity // context))
    step_bytes = work.shape.weight_bytes + running * context * work.shape.kv_bytes_per_token
    bandwidth = work.tp * gpu.bandwidth * MEASURED_BANDWIDTH_SHARE * share
    step = max(step_bytes / bandwidth, work.shape.layers * STEP_FLOOR_PER_LAYER[work.engine])
    decode = (work.new_tokens / running) * step
    computed = work.prompt_tokens if work.prefill_tokens is None else work.prefill_tokens
    prefill = 2 * work.shape.params * computed / (PREFILL_MFU * gpu.peak_flops * work.tp)
    return decode + prefill, running


def train_seconds(trained: ModelShape, tokens: float, gpu: Gpu, mfu: float, gpus: int = 1,
                  frozen_forward: tuple[ModelShape, ...] = ()) -> float:
    """Seconds to train ``trained`` on ``tokens`` (6·params each) plus one forward (2·params each) of
    every ``frozen_forward`` model over the same tokens, at ``mfu`` on ``gpus`` GPUs."""
    flops = tokens * (6 * trained.params + sum(2 * s.params for s in frozen_forward))
    return flops / (mfu * gpu.peak_flops * gpus)


def training_peak_bytes(trained: ModelShape, micro_batch_tokens: float, lora: bool = False,
                        frozen: tuple[ModelShape, ...] = (), reserved: float = 0.0) -> float:
    """Peak memory of one training GPU: optimiser state (16 B/param; a LoRA run keeps bf16 base
    weights instead), activations of one micro-batch, frozen bf16 models, and ``reserved`` bytes
    (a colocated vLLM engine's share)."""
    state = trained.weight_bytes if lora else 16 * trained.params
    activations = ACTIVATION_BYTES_PER_TOKEN_PER_HIDDEN_LAYER * trained.hidden * trained.layers * micro_batch_tokens
    return state + activations + sum(s.weight_bytes for s in frozen) + reserved


def inference_peak_bytes(shape: ModelShape, gpu: Gpu, tp: int, engine: str = "vllm",
                         memory_utilization: float = 0.9, running: int = 0, context: float = 0.0) -> float:
    """Memory one GPU of an engine holds: vLLM reserves ``memory_utilization`` of each card (weights
    split over ``tp`` + the KV cache pool); HF ``generate`` holds the weights and the running KV."""
    if engine == "vllm":
        return memory_utilization * gpu.memory
    return (shape.weight_bytes + running * context * shape.kv_bytes_per_token) / tp


def gib(n_bytes: float) -> float:
    return round(n_bytes / GIB, 1)


def hours(seconds: float) -> float:
    """Seconds -> hours, rounded up to 0.01 (never shows 0 for work that takes time)."""
    return math.ceil(seconds / 36) / 100 if seconds > 0 else 0.0
