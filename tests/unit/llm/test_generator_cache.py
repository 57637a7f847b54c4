"""The per-process generator cache of stage bodies (``tasks.stages.common.generator_for``)."""

from __future__ import annotations

from typing import ClassVar

import pytest

from tasks.stages import checkpoints, common


class Recording:
    """A backend factory's product that records how it was built and whether it was closed."""

    built: ClassVar[list] = []

    def __init__(self, **options) -> None:
        self.options, self.closed = options, False
        Recording.built.append(self)

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    monkeypatch.setattr(common, "_GENERATORS", {})
    monkeypatch.setattr(checkpoints, "model_location", lambda ctx, name: f"/models/{name}")
    Recording.built = []


BACKEND = f"{__name__}:Recording"


def test_shards_reuse_one_generator_per_model_and_options():
    first = common.generator_for(None, "teacher", BACKEND, {"dtype": "bfloat16"})
    again = common.generator_for(None, "teacher", BACKEND, {"dtype": "bfloat16"})
    assert again is first and len(Recording.built) == 1
    assert first.options == {"model": "/models/teacher", "dtype": "bfloat16"}


def test_another_model_closes_the_resident_one_first():
    teacher = common.generator_for(None, "teacher", BACKEND, {})
    student = common.generator_for(None, "student", BACKEND, {})
    assert teacher.closed and not student.closed
    other_options = common.generator_for(None, "student", BACKEND, {"dtype": "float32"})
    assert student.closed and other_options is not student and len(Recording.built) == 3
