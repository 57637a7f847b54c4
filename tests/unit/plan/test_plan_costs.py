"""The plan's arithmetic: model shapes against the model cards, and a hand-computed estimate."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from agentark_core.plan.costs import GPUS, Decode, Gpu, decode_seconds, train_seconds, training_peak_bytes
from agentark_core.plan.shapes import KNOWN_SHAPES, ModelShape, model_shape
from agentark_core.plan.workload import (
    Assumptions,
    Counts,
    TrainKnobs,
    generation_work,
    longest_context,
    question_count,
    rl_estimate,
    sft_estimate,
)

# Parameter counts on the models' Hugging Face model cards (billions).
CARD_PARAMS = {"Qwen/Qwen3-0.6B": 0.6, "Qwen/Qwen3-1.7B": 1.7, "Qwen/Qwen3-8B": 8.2, "Qwen/Qwen3-32B": 32.8,
               "meta-llama/Meta-Llama-3-8B-Instruct": 8.03, "google/gemma-7b": 8.54,
               "Qwen/Qwen2.5-72B-Instruct": 72.7}

# A shape with round numbers, for estimates computed by hand below:
# per layer: q,o 2·1000·(10·100) = 2e6; k,v 2·1000·(5·100) = 1e6; MLP 3·1000·2000 = 6e6 -> 9e6
# 10 layers 9e7 + tied embedding 1000·1000 = 1e6 -> 91e6 params, 182e6 bf16 bytes;
# KV per token 2·10 layers·5 heads·100·2 bytes = 20,000 bytes.
ROUND = ModelShape(hidden=1000, layers=10, heads=10, kv_heads=5, head_dim=100, intermediate=2000, vocab=1000,
                   tied_embeddings=True)
TEST_GPU = Gpu("T", peak_flops=1e15, bandwidth=1e12, memory=1e12)


@pytest.mark.parametrize("model, billions", CARD_PARAMS.items())
def test_known_shapes_have_their_model_cards_parameter_count(model, billions):
    assert KNOWN_SHAPES[model].params / 1e9 == pytest.approx(billions, rel=0.02)


def test_round_shape_by_hand():
    assert ROUND.params == 91_000_000
    assert ROUND.weight_bytes == 182_000_000 and ROUND.kv_bytes_per_token == 20_000


def test_a_local_model_folder_is_read_from_its_config(tmp_path):
    config = {"text_config": {"hidden_size": 1000, "num_hidden_layers": 10, "num_attention_heads": 10,
                              "num_key_value_heads": 5, "head_dim": 100, "intermediate_size": 2000,
                              "vocab_size": 1000, "tie_word_embeddings": True}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert model_shape(str(tmp_path)) == ROUND
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(ValueError, match="config.json: model config has no 'num_attention_heads'"):
        model_shape(str(tmp_path))
    assert model_shape("nobody/unknown-model") is None


def test_decode_estimate_by_hand():
    # 100 sequences, 100-token prompts, 200 new tokens each, 50 submitted at once:
    # mean context 100 + 200/2 = 200; step reads 182e6 + 50·200·20,000 = 382e6 bytes
    # at 1e12 · 0.875 (measured/nominal) · 0.464 (vLLM share of floor) = 4.06e11 B/s, for 20,000/50 = 400 steps
    # -> 400 · 382e6 / 4.06e11 = 0.376355 s; prefill 2·91e6·10,000 / (0.4·1e15) = 0.00455 s
    # The step (0.94 ms) is under the latency floor of 10 layers x 1.712 s / 256 / 28 = 2.388 ms (vLLM):
    # 400 · 2.388e-3 = 0.955357 s. On a GPU with a tenth of the bandwidth the bytes take 9.4 ms a step.
    work = Decode(ROUND, sequences=100, prompt_tokens=10_000, new_tokens=20_000, concurrent=50)
    seconds, running = decode_seconds(work, TEST_GPU)
    assert running == 50
    assert seconds == pytest.approx(0.955357 + 0.00455, rel=1e-4)
    slow = Gpu("S", peak_flops=1e15, bandwidth=1e11, memory=1e12)
    assert decode_seconds(work, slow)[0] == pytest.approx(3.76355 + 0.00455, rel=1e-4)
    # two-way tensor parallel: twice the bandwidth and FLOPs (a bytes-bound decode's wall time halves)
    assert decode_seconds(Decode(ROUND, 100, 10_000, 20_000, tp=2, concurrent=50), slow)[0] == \
        pytest.approx((3.76355 + 0.00455) / 2, rel=1e-6)


def test_decode_reproduces_the_measured_vllm_rate():
    """issue 18: raw vLLM on an H200, Qwen3-0.6B shape, 160 requests x 609-token prompts x 256 new tokens:
    21,195 tok/s. The estimate's floor (weights + running KV per step) must give it back."""
    work = Decode(KNOWN_SHAPES["Qwen/Qwen3-0.6B"], 160, 160 * 609, 160 * 256)
    seconds, _ = decode_seconds(work, GPUS["H200"])
    decode_only = seconds - 2 * work.shape.params * work.prompt_tokens / (0.40 * 989e12)
    assert work.new_tokens / decode_only == pytest.approx(21_195, rel=0.02)


@pytest.mark.parametrize("use_vllm, measured_s", [(False, 10.978), (True, 2.819)])
def test_grpo_step_estimate_is_within_2x_of_the_measured_step(use_vllm, measured_s):
    """bench/bench_grpo_step.py on an H200 (2026-11-27): Qwen3-0.6B shape, 8 prompts x G=8 of ~21 prompt
    tokens, 256 new tokens (a random model never stops), PRM + verifiable reward, beta > 0: one step took
    10.978 s with HF generate rollouts and 2.819 s on TRL's colocated vLLM (issue 20: plan within 2x)."""
    config = SimpleNamespace(per_device_train_batch_size=64, gradient_accumulation_steps=1, num_generations=8,
                             max_steps=1, num_train_epochs=1.0, max_completion_length=256, use_vllm=use_vllm,
                             num_iterations=1, beta=0.001, lora_r=0, vllm_gpu_memory_utilization=0.3)
    est = rl_estimate("train_pad", KNOWN_SHAPES["Qwen/Qwen3-0.6B"], 8, 21, config, GPUS["H200"],
                      Assumptions(fill=1.0))
    assert 0.5 <= est.gpu_seconds / measured_s <= 2.0, est.gpu_seconds


def test_tensor_parallel_debate_estimate_is_within_2x_of_the_measured_run():
    """bench/bench_teacher_tp_gpu.py on 2x H200 (2026-11-27): a Qwen3-32B-shaped teacher, TP 2, vLLM dummy
    weights, 32 questions x 5 agents, one round + the aggregator, 609-token question prompts, 256 new tokens
    (a random model fills them): the whole debate took 12.20 s (issue 20: the plan within 2x of a GPU run).
    Without vLLM's prefix cache (the agents share the question) the plan would count 5x the round-1 prefill."""
    debate = SimpleNamespace(n_agents=5, rounds=1)
    work = generation_work(KNOWN_SHAPES["Qwen/Qwen3-32B"], 32, 609, 256, "debate", debate, Assumptions(fill=1.0),
                           tp=2, engine="vllm", shard=32)
    assert work.sequences == 192 and work.prefill_tokens == 32 * (609 + 5 * 256)
    seconds, _ = decode_seconds(work, GPUS["H200"])
    assert 0.5 <= seconds / 12.20 <= 2.0, seconds
    uncached, _ = decode_seconds(dataclasses.replace(work, prefill_tokens=None), GPUS["H200"])
    assert uncached > seconds


def test_weights_that_do_not_fit_fail_naming_the_parallelism():
    with pytest.raises(ValueError, match="tensor_parallel_size too small"):
        decode_seconds(Decode(KNOWN_SHAPES["Qwen/Qwen2.5-72B-Instruct"], 10, 1000, 1000), GPUS["H100"])


def test_training_estimates_by_hand():
    # 6 · 91e6 FLOPs per token · 1e6 tokens at 40% of 1e15 FLOP/s = 1.365 s
    assert train_seconds(ROUND, 1e6, TEST_GPU, 0.4) == pytest.approx(1.365)
    # + a frozen model of the same shape: 2 · 91e6 more per token
    assert train_seconds(ROUND, 1e6, TEST_GPU, 0.4, frozen_forward=(ROUND,)) == pytest.approx(1.82)
    # optimiser state 16 B/param; LoRA keeps bf16 weights only
    assert training_peak_bytes(ROUND, 0) == 16 * 91e6
    assert training_peak_bytes(ROUND, 0, lora=True) == 182e6
    assert training_peak_bytes(ROUND, 100) > training_peak_bytes(ROUND, 0)


def test_sft_estimate_by_hand():
    # 1000 rows x 2 epochs x 500 tokens = 1e6 tokens -> 6·91e6·1e6 / (0.403·1e15) s
    est = sft_estimate("train_rsft", ROUND, 1000, 500, TrainKnobs(epochs=2.0), TEST_GPU)
    assert est.trained_tokens == 1_000_000
    assert est.gpu_seconds == pytest.approx(6 * 91e6 * 1e6 / (0.403 * 1e15))
    # max_steps wins over epochs: 10 steps x 8 rows x 2 accumulation x 400 tokens (max_length caps 500)
    est = sft_estimate("x", ROUND, 1000, 500, TrainKnobs(max_steps=10, batch=8, grad_accum=2, max_length=400),
                       TEST_GPU)
    assert est.trained_tokens == 10 * 8 * 2 * 400


def test_debate_requests_by_hand():
    # 10 questions, 3 agents x 2 rounds + aggregator; prompt 100; replies 200 · 0.5 = 100 tokens
    # round 1: 3 x 100; round 2: 3 x (100 + own + 2 peers' replies x 100); aggregator 100 + 3 x 100
    # -> 300 + 1,200 + 400 = 1,900 prompt tokens per question
    debate = SimpleNamespace(n_agents=3, rounds=2)
    work = generation_work(ROUND, 10, 100, 200, "debate", debate, Assumptions(fill=0.5), 1, "vllm", shard=4)
    assert (work.sequences, work.prompt_tokens, work.new_tokens, work.concurrent) == (70, 19_000, 7_000, 12)
    assert longest_context(100, 200, "debate", debate) == 100 + 3 * 200 + 200
    assert longest_context(100, 200, "cot", debate) == 300
    single = generation_work(ROUND, 10, 100, 200, "cot", debate, Assumptions(fill=0.5), 1, "vllm", shard=64)
    assert (single.sequences, single.prompt_tokens, single.new_tokens) == (10, 1000, 1000)


def test_grpo_estimate_by_hand():
    # 40 questions x G 8 x 1 epoch / (8 per device x 2 accumulation) = 20 steps of 16 completions
    config = SimpleNamespace(per_device_train_batch_size=8, gradient_accumulation_steps=2, num_generations=8,
                             max_steps=-1, num_train_epochs=1.0, max_completion_length=100, use_vllm=False,
                             num_iterations=1, beta=0.0, lora_r=0, vllm_gpu_memory_utilization=0.3)
    est = rl_estimate("train_pad", ROUND, 40, 50, config, TEST_GPU, Assumptions(fill=0.5))
    assert est.generated_tokens == 320 * 50 and est.trained_tokens == 320 * (50 + 50)
    assert "20 steps x 16 completions" in est.basis and "hf decode" in est.basis
    # the update: 6·91e6 (policy) + 2·91e6 (PRM; no reference at beta 0) per token, at 40.3%
    update = 32_000 * 8 * 91e6 / (0.403 * 1e15)
    rollout, _ = decode_seconds(Decode(ROUND, 320, 320 * 50, 16_000, engine="hf", concurrent=16), TEST_GPU)
    assert est.gpu_seconds == pytest.approx(update + rollout)


def test_question_counts_from_limit_split_size_or_committed_rows():
    section = SimpleNamespace(dataset="gsm8k", split="train", limit=None)
    assert question_count(section, Counts(), "ingest") == 7473
    assert question_count(SimpleNamespace(**{**vars(section), "limit": 100}), Counts(), "ingest") == 100
    assert question_count(SimpleNamespace(**{**vars(section), "limit": 10**6}), Counts(), "ingest") == 7473
    assert question_count(section, Counts({"ingest": 12}), "ingest") == 12
    assert question_count(SimpleNamespace(dataset="toy", split="train", limit=None), Counts(), "ingest") is None


def test_a_hub_id_in_the_local_hf_cache_is_read_without_downloading(tmp_path):
    from huggingface_hub import constants

    repo = Path(constants.HF_HUB_CACHE) / "models--agentark-test--round-shape"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text("abc123")
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True, exist_ok=True)
    (snapshot / "config.json").write_text(json.dumps({
        "hidden_size": 1000, "num_hidden_layers": 10, "num_attention_heads": 10, "num_key_value_heads": 5,
        "head_dim": 100, "intermediate_size": 2000, "vocab_size": 1000, "tie_word_embeddings": True}))
    assert model_shape("agentark-test/round-shape") == ROUND
    assert model_shape("agentark-test/not-cached") is None


def test_ppo_estimate_by_hand():
    # 5 rollout batches x 4 prompts = 20 completions of 100 · 0.5 = 50 tokens after 50-token prompts;
    # 2 PPO epochs train the policy twice on 20 x 100 tokens; the PRM and the reference (kl_coef > 0) score once
    config = SimpleNamespace(batch_size=4, max_steps=5, ppo_epochs=2, mini_batch_size=2, kl_coef=0.01,
                             max_completion_length=100, lora_r=0)
    est = rl_estimate("train_pad", ROUND, 1000, 50, config, TEST_GPU, Assumptions(fill=0.5))
    assert est.generated_tokens == 1000 and est.trained_tokens == 4000
    update = (4000 * 6 * 91e6 + 2000 * 2 * 2 * 91e6) / (0.403 * 1e15)
    rollout, _ = decode_seconds(Decode(ROUND, 20, 1000, 1000, engine="hf", concurrent=4), TEST_GPU)
    assert est.gpu_seconds == pytest.approx(update + rollout)
    # peak: optimiser state + the PRM and reference in bf16 + activations of a 2-completion mini-batch
    assert est.peak_bytes == pytest.approx(training_peak_bytes(ROUND, 2 * 100, frozen=(ROUND, ROUND)))
