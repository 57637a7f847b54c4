"""The ``toy`` dataset: generated arithmetic word problems as questions (toy world, see toy/problems.py).

``load_questions("toy", split="train", limit=500, seed=0, n_steps=(2, 4), distractors=1)``;
options are the :class:`~agentark_core.toy.problems.ToyConfig` knobs. Nothing is loaded,
so ``source`` must be None; without a ``limit`` it generates ``DEFAULT_SIZE`` questions.
"""

from __future__ import annotations

from typing import Any

from agentark_core.data.base import DATASETS
from agentark_core.data.question import Question
from agentark_core.toy.problems import ToyConfig, generate_problems

DEFAULT_SIZE = 1000


class ToyAdapter:
    """Generates toy questions: ``gt`` = final answer, ``gold_reasoning`` = the step solution."""

    def check_options(self, source: str | None, **options: Any) -> ToyConfig:
        """The generator's config from ``options`` (``ToyConfig`` knobs); ``source`` must be None."""
        if source is not None:
            raise ValueError(f"the toy dataset is generated, not loaded; got source={source!r}")
        return ToyConfig.from_options(**options)

    def load(
        self, dataset: str, source: str | None, split: str, limit: int | None, seed: int, **options: Any
    ) -> list[Question]:
        config = self.check_options(source, **options)
        problems = generate_problems(DEFAULT_SIZE if limit is None else limit, split, seed, config)
        return [
            Question(dataset, split, "math", p.text, str(p.answer), gold_reasoning=p.solution)
            for p in problems
        ]


DATASETS.register("toy")(ToyAdapter())
