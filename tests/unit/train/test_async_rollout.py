"""Async GRPO rollouts (issue 18 item 2): the read-ahead loader, and the real TRL trainer sampling the next
generation batch while it trains on the current one.

The CPU has no vLLM engine whose weights can be synced (``rl_common.check_colocated_engine_device``), so
the trainer's engine here is :class:`SnapshotEngine`: a real HF copy of the policy that samples with TRL's
sampling settings and returns the sampled tokens' log-probs, as vLLM's engine does, and records which
policy step its weights came from. The CUDA run on vLLM is ``bench/bench_grpo_step.py --rollout
vllm-async,vllm-server-async`` and ``tests/gpu/test_grpo_vllm_gpu.py``.
"""

from __future__ import annotations

import copy
import threading

import pytest
import torch
from torch.utils.data import DataLoader
from transformers import AutoTokenizer

from agentark_core.train.async_rollout import WAIT_METRIC, AsyncRolloutGRPOTrainer, LookaheadLoader
from agentark_core.train.grpo import build_grpo_trainer, train_grpo
from agentark_core.train.grpo_config import AgentArkGRPOConfig


def test_lookahead_loader_yields_the_same_batches_and_reads_ahead_within_a_pass():
    loader = LookaheadLoader(DataLoader(list(range(10)), batch_size=2))
    assert len(loader) == 5
    seen, ahead = [], {}
    for batch in loader:
        seen.append(batch.tolist())
        for offset in (1, 2, 3):
            found = loader.ahead(batch, offset)
            ahead[(batch[0].item(), offset)] = None if found is None else found.tolist()
    assert seen == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]  # reading ahead skips or repeats nothing
    assert ahead[(0, 1)] == [2, 3] and ahead[(0, 3)] == [6, 7] and ahead[(4, 2)] == [8, 9]
    assert ahead[(6, 2)] is None and ahead[(8, 1)] is None  # past the end of the pass
    assert [b.tolist() for b in loader] == seen  # a second pass starts afresh


def test_lookahead_loader_finds_batches_the_loop_already_read_ahead():
    loader = LookaheadLoader(DataLoader(list(range(8)), batch_size=2))
    iterator = iter(loader)
    first, second, third = next(iterator), next(iterator), next(iterator)  # Trainer reads a few batches at once
    assert loader.ahead(first, 1) is second and loader.ahead(first, 2) is third
    assert loader.ahead(first, 3).tolist() == [6, 7]
    assert next(iterator).tolist() == [6, 7]
    with pytest.raises(ValueError, match="not yielded"):
        loader.ahead(torch.tensor([0, 1]), 1)
    with pytest.raises(ValueError, match="offset"):
        loader.ahead(first, 0)


class SnapshotEngine:
    """A rollout engine holding its own copy of the policy's weights, as vLLM's does (the interface of TRL's
    ``VLLMGeneration`` the async trainer uses: ``sync_weights`` and ``generate``). It logs every request:
    the policy step its weights came from, the prompts, what it returned, and the thread it ran on."""

    def __init__(self, trainer) -> None:
        self.trainer = trainer
        self.model = copy.deepcopy(trainer.model).eval()
        self.weights_step = None
        self.syncs: list[int] = []
        self.requests: list[dict] = []

    def sync_weights(self) -> None:
        self.model.load_state_dict(self.trainer.model.state_dict())
        self.weights_step = self.trainer.state.global_step
        self.syncs.append(self.weights_step)

    @torch.no_grad()
    def generate(self, prompts, images, num_generations):
        args, tokenizer = self.trainer.args, self.trainer.processing_class
        unique = prompts[::num_generations]
        completions, logprobs = [], []
        for ids in unique:
            x = torch.tensor([ids]).repeat(num_generations, 1)
            out = self.model.generate(x, attention_mask=torch.ones_like(x), do_sample=True, top_k=0, top_p=1.0,
                                      temperature=args.temperature, max_new_tokens=args.max_completion_length,
                                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                                      output_logits=True, return_dict_in_generate=True)  # fmt: skip
            scores = torch.stack(out.logits, 1).float().div(args.temperature).log_softmax(-1)
            new = out.sequences[:, x.shape[1]:]
            for row in range(num_generations):
                tokens = new[row].tolist()
                if tokenizer.eos_token_id in tokens:
                    tokens = tokens[: tokens.index(tokenizer.eos_token_id) + 1]
                completions.append(tokens)
                logprobs.append([[scores[row, t, tok].item()] for t, tok in enumerate(tokens)])
        self.requests.append({"weights_step": self.weights_step, "prompts": [list(p) for p in unique],
                              "completions": completions, "thread": threading.current_thread().name})  # fmt: skip
        return [p for p in unique for _ in range(num_generations)], completions, logprobs, None


class SnapshotEngineTrainer(AsyncRolloutGRPOTrainer):
    """The async trainer with :class:`SnapshotEngine` as its rollout engine (TRL's vLLM branches on)."""

    def check_async_scope(self) -> None:
        self.use_vllm = True
        self.vllm_generation = SnapshotEngine(self)
        self._last_loaded_step = -1
        super().check_async_scope()


def _rows(n: int) -> list[dict]:
    return [{"question_id": f"q{i}", "prompt": f"What is {i} + {i % 5}?", "gt": str(i + i % 5),
             "task_type": "math", "choices": []} for i in range(n)]  # fmt: skip


def _config(tmp_path, **kw) -> AgentArkGRPOConfig:
    base = {"output_dir": str(tmp_path), "num_generations": 2, "per_device_train_batch_size": 4, "max_steps": 4,
            "max_completion_length": 6, "learning_rate": 5e-2, "beta": 0.0, "bf16": False, "use_cpu": True,
            "report_to": "none", "save_strategy": "no", "logging_steps": 1, "seed": 0,
            "dataloader_pin_memory": False, "max_prompt_length": 64, "disable_tqdm": True}  # fmt: skip
    return AgentArkGRPOConfig(**{**base, **kw})


def _trainer(tiny, prm_dir, tmp_path, monkeypatch, **kw):
    """``build_grpo_trainer``'s trainer with the snapshot engine (the config cannot ask for vLLM on a CPU)."""
    import trl

    monkeypatch.setattr(trl, "GRPOTrainer", SnapshotEngineTrainer)
    trainer, _ = build_grpo_trainer(tiny, _rows(16), str(tmp_path / "out"), _config(tmp_path, **kw), prm_dir)
    return trainer


def _trained_prompts(trainer) -> list[list[list[int]]]:
    """The unique prompt ids of each generation batch the trainer scored (its reward calls see them)."""
    seen = []
    reward = trainer.reward_funcs[0]

    def spy(*, prompts, completions, **kwargs):
        seen.append(prompts)
        return reward(prompts=prompts, completions=completions, **kwargs)

    spy.__name__ = reward.__name__
    trainer.reward_funcs[0] = spy
    return seen


def test_async_trainer_trains_on_rollouts_sampled_one_update_earlier(tiny, prm_dir, tmp_path, monkeypatch):
    trainer = _trainer(tiny, prm_dir, tmp_path, monkeypatch)
    engine = trainer.vllm_generation
    scored = _trained_prompts(trainer)
    trainer.train()
    requests = engine.requests
    # one rollout per step, none past max_steps: step 0 sampled on the spot, steps 1-3 prefetched
    assert len(requests) == 4 == len(scored)
    assert [r["thread"].startswith("rollout") for r in requests] == [False, True, True, True]
    # the rollout of step k (k >= 1) came from the weights after k - 1 updates: one-step off-policy
    assert [r["weights_step"] for r in requests] == [0, 0, 1, 2]
    assert engine.syncs == [0, 1, 2, 3]
    # each step scored the very prompts its prefetched rollout was sampled for, in the loader's order
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    for request, prompts in zip(requests, scored):
        texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts[::2]]
        assert [tokenizer.decode(ids) for ids in request["prompts"]] == texts
    assert len({tuple(map(tuple, r["prompts"])) for r in requests}) == 4  # four different batches
    rows = [row for row in trainer.state.log_history if WAIT_METRIC in row]
    assert len(rows) == 4 and all(row[WAIT_METRIC] >= 0 for row in rows)
    # TRL's importance sampling sees the staleness: none at step 0, the policy's own update after it
    drift = [row["sampling/sampling_logp_difference/mean"] for row in rows]
    assert drift[0] < 1e-4 and min(drift[1:]) > 1e-3, drift
    assert trainer._pending is None  # nothing left running


def test_async_evaluation_syncs_first_and_keeps_the_prefetched_rollout(tiny, prm_dir, tmp_path, monkeypatch):
    trainer = _trainer(tiny, prm_dir, tmp_path, monkeypatch, max_steps=3, heldout_prompts=4, eval_strategy="steps",
                       eval_steps=1, per_device_eval_batch_size=4, num_generations_eval=1)
    engine = trainer.vllm_generation
    trainer.train()
    train = [r for r in engine.requests if len(r["completions"]) == 2 * len(r["prompts"])]
    evals = [r for r in engine.requests if r not in train]
    assert len(train) == 3  # the prefetched batch survived each evaluation and was trained on
    assert [r["weights_step"] for r in train] == [0, 0, 1]
    # every evaluation after step k sampled with the weights after k updates
    assert sorted({r["weights_step"] for r in evals}) == [1, 2, 3]


def test_train_grpo_logs_the_rollout_wait(tiny, tmp_path, monkeypatch):
    import trl

    monkeypatch.setattr(trl, "GRPOTrainer", SnapshotEngineTrainer)
    metrics = train_grpo(tiny, _rows(16), str(tmp_path / "out"), _config(tmp_path, max_steps=2))
    assert all(WAIT_METRIC in row for row in metrics["loss_curve"])
    assert metrics["global_step"] == 2


def test_async_rollouts_config_checks(tmp_path):
    with pytest.raises(ValueError, match="need use_vllm"):
        _config(tmp_path, async_rollouts=True)
    with pytest.raises(ValueError, match="exclude each other"):
        _config(tmp_path, async_rollouts=True, use_vllm=True, vllm_enable_sleep_mode=True)
    with pytest.raises(ValueError, match="async_engine_process needs async_rollouts"):
        _config(tmp_path, use_vllm=True, async_engine_process=True)
    with pytest.raises(ValueError, match="async_engine_process needs async_rollouts"):
        _config(tmp_path, use_vllm=True, async_rollouts=True, async_engine_process=True, vllm_mode="server",
                vllm_server_base_url="http://127.0.0.1:8000")
    with pytest.raises(ValueError, match="LoRA"):
        _config(tmp_path, use_vllm=True, async_rollouts=True, async_engine_process=True, lora_r=8)
    assert _config(tmp_path, use_vllm=True, async_rollouts=True, async_engine_process=True).async_engine_process


def test_async_prefetch_follows_steps_per_generation(tiny, prm_dir, tmp_path, monkeypatch):
    """One rollout serves two optimizer steps: the next one is read two loader batches ahead, sampled during
    the first of them, and none is sampled for steps past max_steps."""
    trainer = _trainer(tiny, prm_dir, tmp_path, monkeypatch, steps_per_generation=2, max_steps=6)
    engine = trainer.vllm_generation
    scored = _trained_prompts(trainer)
    trainer.train()
    assert len(engine.requests) == 3 == len(scored)
    assert [r["weights_step"] for r in engine.requests] == [0, 0, 2]
    assert engine.syncs == [0, 2, 4]
    assert len({tuple(map(tuple, r["prompts"])) for r in engine.requests}) == 3
    assert all(len(r["prompts"]) == 4 for r in engine.requests)  # 2 steps x 4 completions / G 2


def test_async_training_resumes_from_a_checkpoint(tiny, prm_dir, tmp_path, monkeypatch):
    """A run resumed from its step-2 checkpoint (Trainer skips the batches already trained) finishes; its
    engine serves the resumed steps."""
    first = _trainer(tiny, prm_dir, tmp_path, monkeypatch, max_steps=4, save_strategy="steps", save_steps=2)
    first.train()
    checkpoint = tmp_path / "out" / "checkpoint-2"
    assert checkpoint.is_dir()
    resumed = _trainer(tiny, prm_dir, tmp_path, monkeypatch, max_steps=4)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.state.global_step == 4
    assert len(resumed.vllm_generation.requests) == 2  # steps 3 and 4
