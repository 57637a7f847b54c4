"""GRPO with the PRMVR reward on a tiny real Qwen3 + tiny PRM: reward values, prompt filter, config checks, training."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from agentark_core.train.grpo import train_grpo
from agentark_core.train.grpo_config import AgentArkGRPOConfig
from agentark_core.train.prm_model import PRM
from agentark_core.train.rl_common import build_reward_funcs, combine_rewards, load_prompts


def _rows(n=4):
    return [
        {
            "question_id": f"q{i}",
            "prompt": f"What is {i} + 7?",
            "gt": str(i + 7),
            "task_type": "math",
            "choices": [],
        }
        for i in range(n)
    ]


def _config(tmp_path, **kw):
    base = {
        "output_dir": str(tmp_path),
        "num_generations": 2,
        "per_device_train_batch_size": 4,
        "max_steps": 2,
        "max_completion_length": 8,
        "learning_rate": 1e-2,
        "beta": 0.1,
        "bf16": False,
        "use_cpu": True,
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": 1,
        "seed": 0,
        "dataloader_pin_memory": False,
        "max_prompt_length": 64,
    }
    return AgentArkGRPOConfig(**{**base, **kw})


@pytest.mark.parametrize("aggregation", ["min", "mean", "softmin"])
def test_combined_reward_is_weighted_prm_aggregate_plus_verifiable(tiny, prm_dir, tmp_path, aggregation):
    prm = PRM.load(prm_dir)
    cfg = _config(
        tmp_path, prm_weight=0.5, verifiable_weight=2.0, prm_aggregation=aggregation, prm_temperature=0.2
    )
    funcs, weights = build_reward_funcs(cfg, prm)
    steps = [["Step 1: 12 + 7 = 19", "Final Answer: 19"], ["Step 1: 12 + 7 = 18", "Final Answer: 18"]]
    completions = [[{"role": "assistant", "content": "\n\n".join(s)}] for s in steps]
    prompts = [[{"role": "user", "content": "What is 12 + 7?"}]] * 2
    got = combine_rewards(
        funcs, weights, prompts, completions, gt=["19", "19"], task_type=["math", "math"], choices=[[], []]
    )
    expected = []
    for scores, correct in zip(prm.score_steps(["What is 12 + 7?"] * 2, steps), [1.0, 0.0]):
        if aggregation == "min":
            agg = min(scores)
        elif aggregation == "mean":
            agg = sum(scores) / len(scores)
        else:
            w = [math.exp(-s / 0.2) for s in scores]
            agg = sum(a * b for a, b in zip(w, scores)) / sum(w)
        expected.append(0.5 * agg + 2.0 * correct)
    assert got == pytest.approx(expected, rel=1e-6)
    assert weights == [0.5, 2.0] and [f.__name__ for f in funcs] == ["prm_score", "verifiable"]


def test_without_prm_only_the_verifiable_reward(tmp_path):
    funcs, weights = build_reward_funcs(_config(tmp_path, verifiable_weight=3.0), prm=None)
    got = combine_rewards(
        funcs,
        weights,
        ["q", "q"],
        ["Final Answer: 8", "no answer"],
        gt=["8", "8"],
        task_type=["math", "math"],
    )
    assert got == [3.0, 0.0]
    with pytest.raises(ValueError, match="needs a PRM"):
        build_reward_funcs(_config(tmp_path, verifiable_weight=0.0), prm=None)


def test_prompt_filter_drops_exactly_the_too_long_prompts(tiny):
    tok = AutoTokenizer.from_pretrained(tiny)
    rows = [dict(r, prompt="word " * k) for r, k in zip(_rows(5), [1, 5, 10, 20, 40])]
    lengths = [
        len(
            tok(
                tok.apply_chat_template(
                    [{"role": "user", "content": r["prompt"]}], tokenize=False, add_generation_prompt=True
                ),
                add_special_tokens=False,
            )["input_ids"]
        )
        for r in rows
    ]
    limit = lengths[2]
    kept, dropped = load_prompts(rows, tok, limit)
    assert dropped == sum(n > limit for n in lengths) == 2
    assert [r["question_id"] for r in kept] == ["q0", "q1", "q2"]
    assert kept[0]["prompt"] == [{"role": "user", "content": "word "}]
    with pytest.raises(ValueError, match="all 5 prompts exceed"):
        load_prompts(rows, tok, 2)
    with pytest.raises(ValueError, match="row 0: missing column"):
        load_prompts([{"prompt": "x"}], tok, None)


def test_config_checks(tmp_path):
    with pytest.raises(KeyError, match="softmin"):
        _config(tmp_path, prm_aggregation="median")
    with pytest.raises(ValueError, match="reward_weights"):
        _config(tmp_path, reward_weights=[1.0, 1.0])
    with pytest.raises(ValueError, match="both 0"):
        _config(tmp_path, prm_weight=0.0, verifiable_weight=0.0)
    with pytest.raises(ValueError, match="prm_temperature"):
        _config(tmp_path, prm_temperature=0.0)


def test_train_grpo_moves_every_parameter_and_saves_a_reloadable_checkpoint(tiny, prm_dir, tmp_path, capfd):
    rows = _rows() + [{**_rows(1)[0], "question_id": "long", "prompt": "word " * 200}]
    out = str(tmp_path / "ckpt")
    metrics = train_grpo(tiny, rows, out, _config(tmp_path / "run", disable_tqdm=False), prm_path=prm_dir)
    shown = capfd.readouterr()
    assert "'loss': " not in shown.out + shown.err  # no log dicts, a bar with the loss instead
    assert "GRPO" in shown.err and "loss=" in shown.err

    assert (
        metrics["global_step"] == 2 and metrics["num_prompts_filtered"] == 1 and metrics["num_prompts"] == 4
    )
    assert metrics["reward_funcs"] == ["prm_score", "verifiable"]
    assert len(metrics["loss_curve"]) == 2 and all(math.isfinite(r["loss"]) for r in metrics["loss_curve"])
    assert all(0.0 <= r <= 2.0 for r in metrics["reward_mean"]) and metrics["kl"][-1] > 0
    before = AutoModelForCausalLM.from_pretrained(tiny)
    after = AutoModelForCausalLM.from_pretrained(out)
    unchanged = [n for n, p in before.named_parameters() if torch.equal(p, after.get_parameter(n))]
    assert not unchanged, f"parameters not trained: {unchanged}"

    again, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
    assert not any(info.values()), info  # every weight saved, nothing missing or unexpected
    ids = torch.tensor([[1, 5, 9, 40, 2]])
    assert torch.equal(after(ids).logits, again(ids).logits)
    assert not torch.allclose(before(ids).logits, after(ids).logits)
    assert (
        AutoTokenizer.from_pretrained(out).chat_template == AutoTokenizer.from_pretrained(tiny).chat_template
    )


def test_grpo_with_lora_trains_adapters_only_and_saves_a_merged_model(tiny, prm_dir, tmp_path):
    """lora_r > 0: the trained parameters are the LoRA adapters (the base stays frozen, the KL
    reference is the adapter-free model), and the saved checkpoint is a plain model with them merged."""
    from agentark_core.train.grpo import build_grpo_trainer

    config = _config(tmp_path / "run", lora_r=4, lora_alpha=8)
    trainer, _ = build_grpo_trainer(tiny, _rows(), str(tmp_path / "unused"), config, prm_path=prm_dir)
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert trainer.ref_model is None  # no second copy of the student for the KL term

    out = str(tmp_path / "ckpt")
    metrics = train_grpo(tiny, _rows(), out, config, prm_path=prm_dir)
    assert metrics["global_step"] == 2 and all(math.isfinite(r["loss"]) for r in metrics["loss_curve"])
    merged, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
    assert not any(info.values()), info
    assert not any("lora" in n for n, _ in merged.named_parameters())
    base = AutoModelForCausalLM.from_pretrained(tiny)
    ids = torch.tensor([[1, 5, 9, 40, 2]])
    assert not torch.allclose(base(ids).logits, merged(ids).logits)
    with pytest.raises(ValueError, match="lora_r must be >= 0"):
        _config(tmp_path, lora_r=-1)


def test_grpo_prm_only_still_logs_rollout_accuracy_and_the_prm_check(tiny, prm_dir, tmp_path):
    """verifiable_weight 0 (the pad_prm ablation): the verifiable reward is computed at weight 0, so the
    curve has the rollouts' accuracy beside the PRM reward, the total reward is the PRM's alone, and the
    PRM-vs-verifiable agreement, KL, entropy and clip ratio are logged per step (issue 19)."""
    metrics = train_grpo(tiny, _rows(), str(tmp_path / "ckpt"), _config(tmp_path / "run", verifiable_weight=0.0),
                         prm_path=prm_dir)
    assert metrics["reward_funcs"] == ["prm_score", "verifiable"] and metrics["reward_weights"] == [1.0, 0.0]
    for row in metrics["loss_curve"]:
        assert row["reward"] == pytest.approx(row["rewards/prm_score/mean"], abs=1e-6)
        assert 0.0 <= row["rewards/verifiable/mean"] <= 1.0
        assert {"kl", "entropy", "clip_ratio/region_mean"} <= set(row)
    checked = [row for row in metrics["loss_curve"] if any(k.startswith("prm_check/") for k in row)]
    assert checked, metrics["loss_curve"]  # the tiny policy is always wrong: prm_wrong is its PRM mean
    assert all(r["prm_check/prm_wrong"] == pytest.approx(r["rewards/prm_score/mean"], abs=1e-5)
               for r in checked if "prm_check/prm_correct" not in r)


def test_grpo_scores_held_out_prompts_during_training(tiny, prm_dir, tmp_path):
    """heldout_prompts: the last prompts are kept out of training and TRL's evaluation scores them every
    eval_steps with the same rewards; eval_curve holds their accuracy per evaluation."""
    config = _config(tmp_path / "run", heldout_prompts=2, eval_strategy="steps", eval_steps=1,
                     per_device_eval_batch_size=4)
    metrics = train_grpo(tiny, _rows(6), str(tmp_path / "ckpt"), config, prm_path=prm_dir)
    assert metrics["num_prompts"] == 4 and metrics["num_heldout_prompts"] == 2
    assert [row["step"] for row in metrics["eval_curve"]] == [1, 2]
    for row in metrics["eval_curve"]:
        assert 0.0 <= row["rewards/verifiable/mean"] <= 1.0 and "rewards/prm_score/mean" in row
    assert all("eval_reward" not in row for row in metrics["loss_curve"])
    with pytest.raises(ValueError, match="heldout_prompts 2 needs eval_strategy"):
        _config(tmp_path, heldout_prompts=2)
    with pytest.raises(ValueError, match="eval_strategy 'steps' needs heldout_prompts"):
        _config(tmp_path, eval_strategy="steps", eval_steps=1)
    with pytest.raises(ValueError, match="leaves none of the 4 prompts"):
        train_grpo(tiny, _rows(), str(tmp_path / "none"), _config(tmp_path / "run2", heldout_prompts=4,
                   eval_strategy="steps", eval_steps=1, per_device_eval_batch_size=4), prm_path=prm_dir)
