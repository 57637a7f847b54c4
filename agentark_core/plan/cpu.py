"""CPU time of the toy world's stages (``agentark demo``), from the toy models' shapes and CPU rates
this project measured (``bench/bench_plan_cpu.py``), the way ``costs`` prices a GPU run.

The toy models are so small (0.4-0.7M parameters) that a CPU step is mostly fixed work (Python,
the trainer, the sampling loop), not FLOPs, so each rate is a fixed part plus a FLOP part:

- **training** (``train_sft``'s trainer, the PRM loop, GRPO's update): a run costs
  ``CPU_TRAINER_START_S`` (building the trainer, tokenising, saving), each optimiser step
  ``CPU_TRAIN_STEP_S`` + 6·params FLOPs per trained token at ``CPU_TRAIN_FLOPS`` (padding included:
  the rate was measured on padded batches of toy rows);
- **generation** (the ``transformers`` backend, ``generate`` with a KV cache, one torch thread):
  every token, prompt or generated, is a forward pass of 2·params FLOPs at ``CPU_GEN_FLOPS``, and each
  generated token costs ``CPU_DECODE_TOKEN_S`` more (the sampling loop; at micro-batch 64, so the
  stragglers a batch waits for are included). Both were fitted through a one-agent run (short prompts)
  and a debate (long prompts) of the trained toy teacher;
- **a model stage** loads its model(s) and writes its artifact: ``CPU_MODEL_STAGE_S``; a stage with no
  model (ingest, label by rule, extraction, report) ``CPU_STAGE_S``.

Left out: attention's quadratic FLOPs (contexts are < 400 tokens), the consensus stop (every debate
round is priced: an upper bound), stages running side by side (the plan sums them one at a time),
and other processes on the cores: the rates are a quiet machine's (stated below), and a busier machine
is slower (on 2 cores at load 5-7 a toy training step took 3-25x longer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentark_core.plan.shapes import ModelShape

if TYPE_CHECKING:
    from agentark_core.toy.bootstrap import ModelSpec

# Training, this 2-core machine (torch CPU, 2 threads), ``train_sft`` at batch 32 on the demo preset's rows: the
# teacher (687k params) 0.1319 s / step at 2,912 tokens a step and the student (397k) 0.1032 s / step at 2,911
# (550 and 200 steps: the train_runtime the 12:20 cold demo's toy_models artifact records, the quietest
# measurement available), fitted as step = fixed + 6·params·tokens / F. bench/bench_plan_cpu.py agrees in the
# machine's quiet moments (student: 0.069 s min, 0.085 s 25th percentile of 37 steps) but not at load 5-7
# (teacher: 0.37 s min, 1.4 s 25th percentile): on 2 shared cores two torch threads wait for each other.
CPU_TRAIN_FLOPS = 177e9  # FLOP/s, effective (padded batches)
CPU_TRAIN_STEP_S = 0.064  # s per optimiser step beyond the FLOPs
CPU_TRAINER_START_S = 2.0  # s per training run: trainer build (bench: 0.6-1.6 s for 3,000 rows), save
# Generation, bench/bench_plan_cpu.py: transformers backend at micro-batch 64, T = 1, max 64 tokens, the trained
# toy teacher of a cold demo, process CPU time (one thread: an idle machine's wall time), with the inverse-CDF
# sampler (llm/cpu_sampling.py; session 13, load 0.8): 200 questions one agent, 5,301 new tokens after 12,339
# prompt tokens, 0.89 s; 50 questions of a 5-agent 2-round debate, 10,364 new after 64,107 prompt tokens, 3.30 s
# (with torch.multinomial, session 10: 1.30 and 4.61 s, i.e. 1.11e-4 s a generated token beyond its FLOPs). The
# student (397k params, also 2 layers) took 0.64 s for the one-agent run where the fit says 0.62 s.
CPU_GEN_FLOPS = 35e9  # FLOP/s of a forward pass over prompt or generated tokens (one thread)
CPU_DECODE_TOKEN_S = 3.8e-5  # s per generated token beyond its FLOPs
# GRPO (TRL on the CPU, the demo's train.grpo: 64 completions per step, a rollout round every 4 steps) beyond its
# rollouts and update FLOPs: bench/bench_plan_cpu.py (session 13, idle machine, no PRM, no held-out prompts) timed
# 0.556 s a step in steady state (one 1.35 s step with a rollout round, three of ~0.29 s), ~0.36 s of it rollouts and
# update by the rates above; the cold demo's three GRPO runs (with the PRM and 5 held-out evaluations) took 26-32 s.
CPU_GRPO_STEP_S = 0.20  # s per step
# Assumed, not benched: the 12:20 demo's evaluations took 1-3 s beyond their generation, its model-free stages 0.1-1.4 s.
CPU_MODEL_STAGE_S = 1.0  # s: load a toy model + tokenizer, write the artifact
CPU_STAGE_S = 0.5  # s: a stage without a model

# The toy world (demo preset's difficulty: 1-3 steps of + / - on 1-9), measured by the bench:
TOY_VOCAB = 4279  # words of the toy tokenizer (build_toy_tokenizer(TEMPLATES))
TOY_ROW_TOKENS = {"single": 91.2, "teacher_mix": 237.7}  # a training row, chat-rendered, in tokens
TOY_REPLY_TOKENS = 26.0  # a trained toy model's reply (bench_toy_world.py: 26-27 per one-agent question)
TOY_AGENT_ACCURACY = 0.7  # one sampled teacher agent (bench_toy_world.py: 60-80.5%): R-SFT keeps its right answers


def toy_shape(spec: ModelSpec, vocab: int = TOY_VOCAB) -> ModelShape:
    """The ``ModelShape`` ``bootstrap._init_model`` builds from a toy ``ModelSpec``: MLP 4·hidden, KV heads =
    heads / 2, tied embedding."""
    return ModelShape(hidden=spec.hidden, layers=spec.layers, heads=spec.heads, kv_heads=max(1, spec.heads // 2),
                      head_dim=spec.hidden // spec.heads, intermediate=4 * spec.hidden, vocab=vocab,
                      tied_embeddings=True)


def cpu_train_seconds(shape: ModelShape, steps: float, tokens_per_step: float, flops_per_param: float = 6.0,
                      runs: int = 1) -> float:
    """``runs`` training runs of ``steps`` optimiser steps over ``tokens_per_step`` tokens each, at
    ``flops_per_param`` FLOPs per parameter per token (6: forward + backward; add 2 per frozen scorer)."""
    per_step = CPU_TRAIN_STEP_S + flops_per_param * shape.params * tokens_per_step / CPU_TRAIN_FLOPS
    return runs * CPU_TRAINER_START_S + steps * per_step


def cpu_generate_seconds(shape: ModelShape, new_tokens: float, prompt_tokens: float = 0.0) -> float:
    """``new_tokens`` sampled after ``prompt_tokens`` of prompts."""
    return new_tokens * CPU_DECODE_TOKEN_S + cpu_forward_seconds(shape, new_tokens + prompt_tokens)


def cpu_forward_seconds(shape: ModelShape, tokens: float) -> float:
    """A forward pass over ``tokens`` (a prompt, a generated token, a frozen scorer): 2·params FLOPs per token."""
    return 2 * shape.params * tokens / CPU_GEN_FLOPS
