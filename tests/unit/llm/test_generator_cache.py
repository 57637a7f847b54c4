"""The process-wide generator cache (``agentark_core.llm.cache``) and the stage helper built on it
(``tasks.stages.common.generator_for``): one generator per (backend, options), residents released
least recently used first when their accelerator shares would exceed one card."""

from __future__ import annotations

from typing import ClassVar

import pytest

from agentark_core.llm import cache
from agentark_core.llm.cache import GeneratorCache, gpu_share
from tasks.stages import checkpoints, common


class Recording:
    """A generator that records how it was built and whether it was closed."""

    built: ClassVar[list] = []

    def __init__(self, backend: str, **options) -> None:
        self.backend, self.options, self.closed = backend, options, False
        Recording.built.append(self)

    def close(self) -> None:
        self.closed = True


def half_card(model: str, **options) -> Recording:
    """A dotted-path backend declaring half the accelerator as its share."""
    return Recording("half_card", model=model, **options)


half_card.gpu_share = 0.5
HALF = f"{__name__}:half_card"


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    Recording.built = []
    monkeypatch.setattr(cache, "SHARED", GeneratorCache(build=Recording))
    monkeypatch.setattr(checkpoints, "model_location", lambda ctx, name: f"/models/{name}")


def test_shards_and_stages_reuse_one_generator_per_model_and_options():
    first = common.generator_for(None, "teacher", "transformers", {"dtype": "bfloat16"})
    again = common.generator_for(None, "teacher", "transformers", {"dtype": "bfloat16"})
    verifier = common.model_generator("transformers", "/models/teacher", {"dtype": "bfloat16"})
    assert again is first and verifier is first and len(Recording.built) == 1
    assert first.options == {"model": "/models/teacher", "dtype": "bfloat16"}


def test_options_in_another_order_are_the_same_generator():
    one = cache.shared_generator("vllm", model="m", dtype="bfloat16", gpu_memory_utilization=0.4)
    two = cache.shared_generator("vllm", gpu_memory_utilization=0.4, dtype="bfloat16", model="m")
    assert one is two and cache.SHARED.builds == 1


def test_a_whole_device_model_replaces_the_resident_one():
    teacher = common.generator_for(None, "teacher", "transformers", {})
    student = common.generator_for(None, "student", "transformers", {})
    assert teacher.closed and not student.closed
    other_options = common.generator_for(None, "student", "transformers", {"dtype": "float32"})
    assert student.closed and other_options is not student and len(Recording.built) == 3
    assert cache.SHARED.resident() == [other_options]


def test_vllm_engines_that_fit_together_stay_resident_and_the_oldest_goes_first():
    teacher = cache.shared_generator("vllm", model="teacher", gpu_memory_utilization=0.45)
    verifier = cache.shared_generator("vllm", model="verifier", gpu_memory_utilization=0.45)
    assert not teacher.closed and not verifier.closed
    cache.shared_generator("vllm", model="teacher", gpu_memory_utilization=0.45)  # used again: most recent
    judge = cache.shared_generator("vllm", model="judge", gpu_memory_utilization=0.3)
    assert verifier.closed and not teacher.closed  # the least recently used one made room
    assert cache.SHARED.resident() == [teacher, judge]
    cache.shared_generator("vllm", model="big")  # the backend's default 0.9: alone on the card
    assert teacher.closed and judge.closed and len(cache.SHARED.resident()) == 1


def test_remote_clients_hold_no_accelerator_and_evict_nothing():
    local = cache.shared_generator("transformers", model="teacher")
    remote = cache.shared_generator("openai", base_url="http://127.0.0.1:8000/v1", model="judge")
    assert not local.closed and cache.SHARED.resident() == [local, remote]
    cache.shared_generator("transformers", model="student")
    assert local.closed and not remote.closed  # a new local model keeps the remote client


def test_a_plugin_declares_its_share():
    first = cache.shared_generator(HALF, model="a")
    second = cache.shared_generator(HALF, model="b")
    assert not first.closed
    cache.shared_generator(HALF, model="c")
    assert first.closed and not second.closed
    assert gpu_share(f"{__name__}:Recording", {}) == 0.0  # a plugin that declares nothing claims nothing


def test_release_and_release_all_close_the_generators():
    one = cache.shared_generator("openai", base_url="http://x/v1", model="a")
    two = cache.shared_generator("openai", base_url="http://x/v1", model="b")
    assert cache.SHARED.release(one) and one.closed and not cache.SHARED.release(one)
    cache.release_generators()
    assert two.closed and cache.SHARED.resident() == []
    assert cache.shared_generator("openai", base_url="http://x/v1", model="a") is not one  # built anew


def test_bad_shares_and_options_fail_naming_the_backend():
    with pytest.raises(ValueError, match="'vllm'.*got 1.5"):
        cache.shared_generator("vllm", model="m", gpu_memory_utilization=1.5)
    with pytest.raises(TypeError, match="'openai': options must be JSON"):
        cache.shared_generator("openai", model="m", base_url=object())
    with pytest.raises(KeyError, match="unknown backend 'tgi'"):
        cache.shared_generator("tgi", model="m")
    assert Recording.built == []  # nothing was built for a refused request


def test_training_releases_the_resident_generators_first(tmp_path):
    from pathlib import Path
    from types import SimpleNamespace

    from tasks.store import ArtifactStore

    engine = cache.shared_generator("vllm", model="teacher", gpu_memory_utilization=0.9)
    seen = []

    def train(output_dir: str) -> dict:
        seen.append(engine.closed)  # what training found
        Path(output_dir).mkdir()
        (Path(output_dir) / "weights.bin").write_bytes(b"0")
        return {}

    ctx = SimpleNamespace(stage=SimpleNamespace(name="train_rsft"), key="k1", store=ArtifactStore(str(tmp_path / "s")))
    row = checkpoints.store_trained(ctx, train, route="rsft", base_model="m")
    assert seen == [True] and cache.SHARED.resident() == [] and row["route"].tolist() == ["rsft"]
