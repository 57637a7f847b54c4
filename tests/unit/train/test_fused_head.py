"""TRL's fused LM head on CPU projects only the labelled positions once :func:`compact_cpu_lm_head` ran, with the
log-probs, entropies and gradients it gave when projecting every position; GRPO's builder turns it on."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("trl")

import trl.trainer.utils as trl_utils
from transformers import AutoModelForCausalLM
from trl.kernels import chunked_logprob
from trl.trainer.utils import _ChunkedLogProbFunction

from agentark_core.train.fused_head import compact_cpu_lm_head

APPLY = _ChunkedLogProbFunction.apply  # TRL's own, before any test's spy


@pytest.fixture(autouse=True)
def trl_decision(monkeypatch):
    """TRL's own compaction decision (its kernel module's, which the patch never replaces) for each test, whatever
    an earlier GRPO build in this process set; the process's setting comes back afterwards."""
    monkeypatch.setattr(trl_utils, "_use_triton", chunked_logprob._use_triton)


def _fused_pass(model, rows_seen: list[int], monkeypatch) -> tuple:
    """Log-probs, entropies and parameter gradients of one fused-head forward/backward over a left-padded
    batch whose labels cover only the last 5 positions; ``rows_seen`` gets the rows the head projected."""
    def spy(hidden, *args):
        rows_seen.append(hidden.shape[0])
        return APPLY(hidden, *args)

    monkeypatch.setattr(_ChunkedLogProbFunction, "apply", spy)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (3, 12), generator=generator)
    mask = torch.ones_like(ids)
    mask[0, :4] = 0  # left padding
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :-5] = -100
    model.zero_grad()
    out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
    out.log_probs.sum().backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return out.log_probs.detach()[:, -5:], out.entropy.detach()[:, -5:], grads


def test_compact_cpu_head_projects_only_labelled_positions_with_the_same_results(tiny, monkeypatch):
    model = AutoModelForCausalLM.from_pretrained(tiny)
    trl_utils.add_fused_lm_head(model, temperature=0.7, cast_lm_head_to_fp32=False, outputs=("log_probs", "entropy"))
    full_rows: list[int] = []
    full = _fused_pass(model, full_rows, monkeypatch)
    assert compact_cpu_lm_head()
    compact_rows: list[int] = []
    compact = _fused_pass(model, compact_rows, monkeypatch)

    assert full_rows == [3 * 11]  # TRL's CPU default: every shifted position, padding and prompt included
    assert compact_rows == [3 * 5]  # only the completion's labelled positions
    torch.testing.assert_close(compact[0], full[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(compact[1], full[1], rtol=0, atol=1e-6)
    assert (compact[2] - full[2]).norm() <= 1e-5 * full[2].norm()


def test_compact_cpu_head_keeps_other_devices_decision_and_is_idempotent():
    original = trl_utils._use_triton
    assert compact_cpu_lm_head()
    patched = trl_utils._use_triton
    assert patched is not original
    assert patched(torch.device("cpu"))
    assert patched(torch.device("meta")) == original(torch.device("meta"))
    assert compact_cpu_lm_head() and trl_utils._use_triton is patched  # a second call wraps nothing again


def test_grpo_builder_turns_compaction_on(tiny, prm_dir, tmp_path):
    from agentark_core.train.grpo import build_grpo_trainer
    from agentark_core.train.grpo_config import AgentArkGRPOConfig

    assert not trl_utils._use_triton(torch.device("cpu"))
    config = AgentArkGRPOConfig(output_dir=str(tmp_path), num_generations=2, per_device_train_batch_size=2,
                                max_steps=1, max_completion_length=4, bf16=False, use_cpu=True, report_to="none")
    rows = [{"question_id": "q0", "prompt": "What is 2 + 7?", "gt": "9", "task_type": "math", "choices": []}]
    build_grpo_trainer(tiny, rows, str(tmp_path / "out"), config, prm_path=prm_dir)
    assert trl_utils._use_triton(torch.device("cpu"))
