"""Training shows one progress bar with the loss, never transformers' raw log dicts."""

from __future__ import annotations

import pytest

from agentark_core.toy.tiny import make_tiny_model
from agentark_core.train.progress import LossBar, show_loss_progress
from agentark_core.train.sft import build_trainer, train_sft
from agentark_core.train.sft_config import AgentArkSFTConfig

RAW_LOG_DICT = "'loss': "


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _rows(n=4):
    return [{"example_id": f"e{i}", "question_id": f"q{i}", "kind": "rsft", "prompt": f"What is {i} + 7?",
             "reasoning": f"Step 1: {i} + 7 = {i + 7}.", "answer": f"Final Answer: {i + 7}", "weight": 1.0,
             "group_size": 1} for i in range(n)]


def _config(tmp_path, **kw):
    return AgentArkSFTConfig(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=2,
                             learning_rate=1e-2, bf16=False, logging_steps=1, report_to="none",
                             save_strategy="no", seed=0, dataloader_pin_memory=False, **kw)


class CountedLoss:
    """A loss that counts how often it is read (a CUDA tensor read is a host sync)."""

    reads = 0

    def __init__(self, value: float) -> None:
        self.value = value

    def __float__(self) -> float:
        CountedLoss.reads += 1
        return self.value


def test_loss_bar_reads_the_loss_lazily_and_ends_on_the_last_one(capfd):
    CountedLoss.reads = 0
    bar = LossBar(range(3, 11), "PRM stage 1", total=10, interval_s=3600)
    for step in bar:
        bar.show(CountedLoss(1.0 / step), reward=step)
    assert CountedLoss.reads == 2  # the first step's loss, then the last one when the loop ends
    assert bar.shown == {"loss": 0.1, "reward": 10.0}
    err = capfd.readouterr().err
    assert "PRM stage 1" in err and "10/10" in err and "loss=0.1" in err


def test_tqdm_disable_in_the_environment_silences_our_bars(capfd, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    bar = LossBar(range(4), "PRM stage 1", total=4, interval_s=0)
    for step in bar:
        bar.show(float(step))
    assert "PRM stage 1" not in capfd.readouterr().err


def test_sft_shows_a_bar_with_the_loss_and_prints_no_log_dicts(tiny, tmp_path, capfd):
    metrics = train_sft(tiny, _rows(), str(tmp_path / "ckpt"), _config(tmp_path, disable_tqdm=False))
    out, err = capfd.readouterr()
    assert len(metrics["loss_curve"]) == 3  # every step still logged into the metrics
    assert RAW_LOG_DICT not in out + err and "train_runtime" not in out + err
    last = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("SFT")][-1]
    assert "3/3" in last and f"loss={metrics['loss_curve'][-1]['loss']:.4g}" in last


@pytest.mark.parametrize("disable_tqdm, bars", [(False, 1), (True, 0)])
def test_the_trainers_own_progress_and_printer_callbacks_are_replaced(tiny, tmp_path, disable_tqdm, bars):
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    config = _config(tmp_path, disable_tqdm=disable_tqdm)
    trainer = build_trainer(tiny, _rows(), str(tmp_path / "ckpt"), config)
    show_loss_progress(trainer, "SFT")
    callbacks = [type(c).__name__ for c in trainer.callback_handler.callbacks]
    assert not {PrinterCallback.__name__, ProgressCallback.__name__} & set(callbacks)
    assert callbacks.count("LossProgressCallback") == bars
