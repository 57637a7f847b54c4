"""GRPO and PPO rollouts on a CUDA vLLM engine (issue 18 deliverable 2), on a tiny random-init Qwen3 whose
tokenizer's vocabulary is its embedding table.

GRPO: ``build_grpo_trainer`` with ``use_vllm: true`` (TRL's colocated engine), PRM + verifiable reward, two
steps at a large learning rate; the weights pushed into the engine at step 2's rollout are the policy's
after step 1's update: the engine scores text as a model holding that snapshot does (within bf16's error)
and no longer as the start. PPO: the engine scores text as a perturbed policy after ``sync``; the sampled
batch is prompt + completion with the mask of the sampled tokens; a two-step ``train_ppo`` with
``use_vllm`` trains.

Run on the device machine (vLLM, trl, datasets installed), one engine per process (vLLM's in-process
engines share process-wide state):
``python -m pytest -p no:cacheprovider -o addopts="" -m gpu tests/gpu/test_grpo_vllm_gpu.py -k "grpo and not async"``,
then the same with ``-k "async_grpo and not process"``, ``-k child_process``, ``-k "ppo and not
trains"`` and ``-k ppo_trains``. Passed on an H200 (4x H200 host,
vLLM 0.26.0, TRL 1.16, 2026-11-27): 4 + 2 + 1 tests, 273 s + 77 s + 70 s; on a 2x H200 host (session 11):
``-k async_grpo`` 1 passed in 107 s, and ``-k "grpo and not async"`` (which, matching the module name, also
selects the PPO tests) 4 passed in 166 s; on one H200 (session 12) ``-k child_process`` 1 passed in 137 s and
``-k rollouts_run_on_vllm_with`` 1 passed in 60 s.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

pytest.importorskip("vllm", reason="needs vLLM's CUDA build")
pytest.importorskip("trl", reason="needs TRL")

from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from agentark_core.toy.tiny import make_tiny_model
from agentark_core.train.grpo import build_grpo_trainer
from agentark_core.train.grpo_config import AgentArkGRPOConfig
from agentark_core.train.ppo import train_ppo
from agentark_core.train.ppo_config import AgentArkPPOConfig
from agentark_core.train.ppo_vllm import VLLMSampler
from agentark_core.train.prm_model import PRM

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

PROMPT = "Tom has 5 apples and buys 3 more. How many apples does he have? The answer is 8."


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> str:
    """The tiny student saved in bf16: TRL's colocated engine takes the checkpoint's dtype, and vLLM 0.26
    hit an illegal memory access capturing CUDA graphs for this model in fp32 (H200, 2026-11-27)."""
    from transformers import AutoModelForCausalLM

    path = make_tiny_model(tmp_path_factory.mktemp("grpo-vllm") / "model", hidden=128, heads=2, layers=2)
    AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).save_pretrained(path)
    return path


def engine_prompt_logprobs(llm, ids: list[int]) -> torch.Tensor:
    """log p(ids[t] | ids[:t]) for t >= 1 under the engine's weights."""
    from vllm import SamplingParams

    params = SamplingParams(max_tokens=1, temperature=1.0, prompt_logprobs=0)
    out = llm.generate([{"prompt_token_ids": ids}], sampling_params=params, use_tqdm=False)[0]
    return torch.tensor([entry[tok].logprob for entry, tok in zip(out.prompt_logprobs[1:], ids[1:])])


@torch.no_grad()
def policy_prompt_logprobs(model, ids: list[int]) -> torch.Tensor:
    """The same under an HF model (fp32)."""
    x = torch.tensor([ids], device=model.device)
    logits = model(input_ids=x).logits[0, :-1].float()
    return torch.log_softmax(logits, -1).gather(-1, x[0, 1:, None]).squeeze(-1).cpu()


class Snapshots(TrainerCallback):
    """The policy's weights at the end of every optimiser step (CPU copies)."""

    def __init__(self) -> None:
        self.states: dict[int, dict] = {}

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.states[state.global_step] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def length_reward(prompts, completions, **kwargs) -> list[float]:
    """Characters of each completion: varies between any two different rollouts."""
    return [float(len(c[-1]["content"] if isinstance(c, list) else c)) for c in completions]


def _grpo_rows(n: int) -> list[dict]:
    return [{"question_id": f"q{i}", "prompt": f"What is {i} + 7?", "gt": str(i + 7), "task_type": "math",
             "choices": []} for i in range(n)]  # fmt: skip


def _grpo_config(tmp_path, **kw) -> AgentArkGRPOConfig:
    """Two-to-three-step GRPO on TRL's colocated engine at a large learning rate (the policy moves)."""
    return AgentArkGRPOConfig(**{
        "output_dir": str(tmp_path / "out"), "num_generations": 4, "per_device_train_batch_size": 8,
        "max_completion_length": 16, "learning_rate": 5e-2, "beta": 0.0, "bf16": True, "report_to": "none",
        "save_strategy": "no", "logging_steps": 1, "seed": 0, "max_prompt_length": 64, "use_vllm": True,
        "vllm_gpu_memory_utilization": 0.2, "generation_kwargs": {"min_tokens": 8}, **kw})  # fmt: skip


def test_grpo_rollouts_run_on_vllm_with_the_policys_weights(model_path, tmp_path):
    torch.manual_seed(1)
    PRM.from_student(model_path).save(tmp_path / "prm")
    rows, config = _grpo_rows(8), _grpo_config(tmp_path, max_steps=2)
    assert config.vllm_mode == "colocate" and config.vllm_max_model_length == 1024
    trainer, _ = build_grpo_trainer(model_path, rows, str(tmp_path / "out"), config, str(tmp_path / "prm"))
    # A random tiny student almost never answers right, and on the H200 its PRM scores came out equal
    # within every group (reward_std 0: no gradient, nothing to sync). The verifiable reward's slot scores
    # the completion's length instead, so step 1 moves the policy; the PRM reward stays in the loop.
    assert trainer.reward_func_names[-1] == "verifiable"
    trainer.reward_funcs[-1] = length_reward
    llm = trainer.vllm_generation.llm
    assert llm.llm_engine.vllm_config.device_config.device_type == "cuda"
    snapshots = Snapshots()
    trainer.add_callback(snapshots)
    trainer.train()

    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 2 and all("rewards/prm_score/mean" in e and "rewards/verifiable/mean" in e for e in logged)
    ids = AutoTokenizer.from_pretrained(model_path)(PROMPT)["input_ids"]
    engine = engine_prompt_logprobs(llm, ids)
    start = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).cuda().eval()
    start_logprobs = policy_prompt_logprobs(start, ids)
    after_step_1 = copy.deepcopy(start)
    after_step_1.load_state_dict(snapshots.states[1])
    wanted = policy_prompt_logprobs(after_step_1, ids)
    assert (wanted - start_logprobs).abs().mean() > 0.1, "step 1 barely moved the policy: the check would be void"
    assert (engine - wanted).abs().max() < 0.2, (engine - wanted).abs().max()
    assert (engine - start_logprobs).abs().mean() > 0.5 * (wanted - start_logprobs).abs().mean()


def test_async_grpo_rollouts_on_vllm_are_sampled_ahead_one_update_stale(model_path, tmp_path):
    """``async_rollouts`` on the colocated engine: steps 2-3 train on rollouts sampled in the engine thread
    during the previous step, by the policy one update older; TRL's importance sampling sees that drift."""
    import threading

    from agentark_core.train.async_rollout import WAIT_METRIC

    rows, config = _grpo_rows(12), _grpo_config(tmp_path, max_steps=3, async_rollouts=True)
    trainer, _ = build_grpo_trainer(model_path, rows, str(tmp_path / "out"), config)
    trainer.reward_funcs[-1] = length_reward  # as above: rewards that differ within a group
    threads, sample = [], trainer._sample

    def recorded(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return sample(*args, **kwargs)

    trainer._sample = recorded
    trainer.train()
    assert [name.startswith("rollout") for name in threads] == [False, True, True]
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 3 and all(WAIT_METRIC in entry for entry in logged)
    drift = [entry["sampling/sampling_logp_difference/mean"] for entry in logged]
    # step 1: engine (bf16) and policy hold the same weights; later: the engine's are one update older
    assert min(drift[1:]) > 2 * drift[0] + 0.02, drift


def test_async_grpo_with_the_engine_in_a_child_process_trains_on_the_synced_weights(model_path, tmp_path):
    """``async_engine_process``: the engine core samples in its own process on this GPU; after a sync through
    CUDA IPC it scores text as the policy does (within bf16's error), and a 3-step async run trains."""
    from agentark_core.train.async_rollout import WAIT_METRIC

    rows, config = _grpo_rows(12), _grpo_config(tmp_path, max_steps=3, async_rollouts=True, async_engine_process=True)
    trainer, _ = build_grpo_trainer(model_path, rows, str(tmp_path / "out"), config)
    trainer.reward_funcs[-1] = length_reward  # rewards that differ within a group
    engine = trainer.vllm_generation
    assert type(engine).__name__ == "ProcessRolloutEngine"
    with torch.no_grad():
        for param in trainer.model.parameters():
            param.add_(torch.randn_like(param) * 0.2)
    engine.sync_weights()
    ids = AutoTokenizer.from_pretrained(model_path)(PROMPT)["input_ids"]
    wanted = policy_prompt_logprobs(trainer.model.eval(), ids)
    trainer.model.train()
    got = engine_prompt_logprobs(engine.llm, ids)
    assert (got - wanted).abs().max() < 0.3, (got - wanted).abs().max()
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 3 and all(WAIT_METRIC in entry for entry in logged)


def _ppo_config(**kw) -> AgentArkPPOConfig:
    base = {"max_steps": 2, "batch_size": 4, "max_completion_length": 12, "learning_rate": 1e-2,
            "use_vllm": True, "max_prompt_length": 64, "vllm_gpu_memory_utilization": 0.2}
    return AgentArkPPOConfig(**{**base, **kw})  # fmt: skip


@pytest.fixture(scope="module")
def ppo_sampler(model_path):
    return VLLMSampler(model_path, _ppo_config(), torch.device("cuda"))


def test_ppo_sync_puts_the_policys_weights_in_the_engine(model_path, ppo_sampler):
    ids = AutoTokenizer.from_pretrained(model_path)(PROMPT)["input_ids"]
    policy = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).cuda().eval()
    before = engine_prompt_logprobs(ppo_sampler.llm, ids)
    assert (before - policy_prompt_logprobs(policy, ids)).abs().max() < 0.2  # bf16 engine vs fp32 policy
    torch.manual_seed(0)
    with torch.no_grad():
        for param in policy.parameters():
            param.add_(torch.randn_like(param) * 0.2)
    ppo_sampler.sync(policy.named_parameters())
    after, wanted = engine_prompt_logprobs(ppo_sampler.llm, ids), policy_prompt_logprobs(policy, ids)
    assert (wanted - before).abs().mean() > 0.5, "the perturbation barely moved the policy: the check would be void"
    # bf16 vs fp32 on this perturbed model, measured with HF on a CPU: max 0.096, mean 0.030 nats
    assert (after - wanted).abs().max() < 0.3, (after - wanted).abs().max()


def test_ppo_sampled_batch_is_prompt_plus_completion_with_its_mask(model_path, ppo_sampler):
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    policy = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).cuda().eval()
    texts = ["What is 2 + 3?", "Tom has 5 apples and buys 3 more. How many apples does he have?"]
    enc = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left").to("cuda")
    config = _ppo_config()
    sequences, mask = ppo_sampler.sample(policy.named_parameters(), enc, config, tokenizer.eos_token_id)
    width = enc["input_ids"].shape[1]
    assert torch.equal(sequences[:, :width], enc["input_ids"])
    assert sequences.shape[1] - width == mask.shape[1] <= config.max_completion_length
    for row, row_mask in zip(sequences[:, width:], mask):
        n = int(row_mask.sum())
        assert n >= 1 and row_mask[:n].all() and not row_mask[n:].any()  # one run of sampled tokens
        assert (row[n:] == tokenizer.eos_token_id).all()  # filled after the completion's end
        if n < config.max_completion_length:  # stopped early: on its end-of-sequence token
            assert row[n - 1].item() == tokenizer.eos_token_id


def test_ppo_trains_on_vllm_rollouts(model_path, tmp_path):
    """A short PPO run with ``use_vllm`` (``train_ppo`` starts its own engine) trains and saves."""
    rows = [{"question_id": f"q{i}", "prompt": f"What is {i} + 7?", "gt": str(i + 7), "task_type": "math",
             "choices": []} for i in range(4)]  # fmt: skip
    metrics = train_ppo(model_path, rows, str(tmp_path / "out"), _ppo_config())
    assert metrics["global_step"] == 2 and len(metrics["loss_curve"]) == 2
    assert all(math.isfinite(row["loss"]) and math.isfinite(row["kl"]) for row in metrics["loss_curve"])
    assert metrics["kl"][0] == pytest.approx(0.0, abs=1e-3)  # first rollout: policy == reference
    assert metrics["kl"][1] != pytest.approx(0.0, abs=1e-4)  # after an update at lr 1e-2
    assert (tmp_path / "out" / "value_head.safetensors").exists()
