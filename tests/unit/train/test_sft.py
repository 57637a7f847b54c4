"""R-SFT / DA on a tiny real Qwen3: token weighting, the weighted loss against a hand computation, training."""

from __future__ import annotations

import math

import pytest
import torch

from agentark_core.toy.tiny import make_tiny_model
from agentark_core.train.sft import build_trainer, tokenize_example, train_sft, weighted_collator
from agentark_core.train.sft_config import AgentArkSFTConfig


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _rows(n=4, kind="rsft", weight=1.0):
    return [
        {
            "example_id": f"e{i}",
            "question_id": f"q{i}",
            "kind": kind,
            "prompt": f"What is {i} + 7?",
            "reasoning": f"Step 1: {i} + 7 = {i + 7}.",
            "answer": f"Final Answer: {i + 7}",
            "weight": weight,
            "group_size": 1,
        }
        for i in range(n)
    ]


def _config(tmp_path, **kw):
    base = {
        "output_dir": str(tmp_path),
        "max_steps": 3,
        "per_device_train_batch_size": 2,
        "learning_rate": 1e-2,
        "bf16": False,
        "logging_steps": 1,
        "report_to": "none",
        "save_strategy": "no",
        "seed": 0,
        "dataloader_pin_memory": False,
    }
    return AgentArkSFTConfig(**{**base, **kw})


def test_tokenize_masks_prompt_and_weights_answer(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    item = tokenize_example(tok, "What is 12 + 7?", "Step 1: 12 + 7 = 19.", "Final Answer: 19", 0.5, 3.0)
    trained = [t for t, lab in zip(item["input_ids"], item["labels"]) if lab != -100]
    assert tok.decode(trained) == "Step 1: 12 + 7 = 19.\nFinal Answer: 19<|im_end|>"
    answer = [t for t, w in zip(item["input_ids"], item["token_weights"]) if w == pytest.approx(1.5)]
    assert tok.decode(answer) == "Final Answer: 19"
    prompt_weights = [w for w, lab in zip(item["token_weights"], item["labels"]) if lab == -100]
    assert prompt_weights and set(prompt_weights) == {0.0}
    assert set(item["token_weights"]) == {0.0, 0.5, 1.5}


def _hand_loss(model, batch, answer_len, example_weights, w):
    """(Σ_i ω_i (Σ_reasoning nll + w Σ_answer nll)) / N, from plain logits; the answer = the
    ``answer_len`` tokens before each row's final end-of-turn token."""
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logp = torch.log_softmax(logits[:, :-1].double(), -1)
    labels = batch["labels"][:, 1:]
    total, count = 0.0, 0
    for row in range(labels.shape[0]):
        positions = (labels[row] != -100).nonzero().flatten().tolist()
        answer_positions = set(positions[-1 - answer_len[row] : -1])
        for pos in positions:
            nll = -logp[row, pos, labels[row, pos]].item()
            total += example_weights[row] * nll * (w if pos in answer_positions else 1.0)
            count += 1
    return total / count


@pytest.mark.parametrize("answer_loss_weight", [0.0, 1.0, 3.0])
def test_weighted_loss_matches_hand_computation(tiny, tmp_path, answer_loss_weight):
    rows = _rows(2)
    rows[1]["weight"] = 0.5  # DA-style 1/k weight on the second example
    trainer = build_trainer(
        tiny, rows, str(tmp_path), _config(tmp_path, answer_loss_weight=answer_loss_weight)
    )
    tok = trainer.processing_class
    batch = weighted_collator(tok.pad_token_id)([trainer.train_dataset[i] for i in range(2)])
    answer_len = [len(tok(r["answer"], add_special_tokens=False)["input_ids"]) for r in rows]
    for row, n in enumerate(answer_len):  # the hand's answer span really is the answer
        ids = batch["input_ids"][row][batch["labels"][row] != -100].tolist()
        assert tok.decode(ids[-1 - n : -1]) == rows[row]["answer"]
    model = trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, dict(batch)).item()
    expected = _hand_loss(model, batch, answer_len, [1.0, 0.5], answer_loss_weight)
    assert loss == pytest.approx(expected, rel=1e-5)


def test_example_weight_scales_loss(tiny, tmp_path):
    losses = []
    for weight in (1.0, 1 / 3):
        trainer = build_trainer(tiny, _rows(2, kind="da", weight=weight), str(tmp_path), _config(tmp_path))
        batch = weighted_collator(trainer.processing_class.pad_token_id)(list(trainer.train_dataset))
        with torch.no_grad():
            losses.append(trainer.compute_loss(trainer.model.eval(), batch).item())
    assert losses[1] == pytest.approx(losses[0] / 3, rel=1e-5)


def test_train_sft_updates_every_parameter_and_reloads(tiny, tmp_path):
    from transformers import AutoModelForCausalLM

    before = {k: v.clone() for k, v in AutoModelForCausalLM.from_pretrained(tiny).state_dict().items()}
    out = tmp_path / "ckpt"
    metrics = train_sft(
        tiny, _rows(4, kind="da", weight=0.5), str(out), _config(tmp_path, answer_loss_weight=2.0)
    )
    assert [r["step"] for r in metrics["loss_curve"]] == [1, 2, 3]
    assert all(math.isfinite(r["loss"]) for r in metrics["loss_curve"])
    assert metrics["num_tokens"] > 0 and metrics["train_runtime"] > 0 and metrics["global_step"] == 3
    trained = AutoModelForCausalLM.from_pretrained(out)
    unchanged = [k for k, v in trained.state_dict().items() if torch.equal(v, before[k])]
    assert unchanged == []
    ids = torch.tensor([[5, 17, 42, 99, 3]])
    reloaded = AutoModelForCausalLM.from_pretrained(out)
    assert torch.equal(trained(ids).logits, reloaded(ids).logits)
    assert (out / "tokenizer.json").exists()


def test_bad_rows_fail_with_row_and_column(tiny, tmp_path):
    rows = _rows(2)
    del rows[1]["answer"]
    with pytest.raises(ValueError, match=r"row 1.*answer"):
        build_trainer(tiny, rows, str(tmp_path), _config(tmp_path))
    rows = _rows(2)
    rows[0]["weight"] = -1.0
    with pytest.raises(ValueError, match=r"row 0.*weight"):
        build_trainer(tiny, rows, str(tmp_path), _config(tmp_path))
    rows = _rows(2)
    rows[1]["prompt"] = 42
    with pytest.raises(TypeError, match=r"row 1, column 'prompt': expected str, got int"):
        build_trainer(tiny, rows, str(tmp_path), _config(tmp_path))
    with pytest.raises(ValueError, match="answer_loss_weight"):
        _config(tmp_path, answer_loss_weight=-0.5)
