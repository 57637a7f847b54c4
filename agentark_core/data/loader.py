"""``load_questions``: any registered dataset -> a list of normalised questions (paper §4 datasets).

Example:
    >>> qs = load_questions("gsm8k", "data/gsm8k_test.jsonl", limit=100, seed=0)   # doctest: +SKIP
    >>> qs = load_questions("gsm8k", limit=100)              # openai/gsm8k, config main  # doctest: +SKIP
    >>> qs = load_questions("toy", split="train", limit=500, n_steps=(2, 4))       # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

# Importing the adapter modules registers them in DATASETS.
from agentark_core.data import hotpotqa, math_sets, medmcqa, qasper, qmsum, toy, truthfulqa  # noqa: F401
from agentark_core.data.base import DATASETS
from agentark_core.data.policy import DuplicateChecker, PolicyError, apply_policy
from agentark_core.data.question import Question


def load_questions(
    dataset: str,
    source: str | None = None,
    split: str = "test",
    limit: int | None = None,
    seed: int = 0,
    **options: Any,
) -> list[Question]:
    """Load (or generate) the questions of one dataset.

    Args:
        dataset: a registered dataset name (``DATASETS.names()``), e.g. ``gsm8k``, ``medmcqa``, ``toy``.
        source: a hub id or a local ``.jsonl/.json/.parquet/.csv`` file or directory in the dataset's
            layout; None = the dataset's default hub id. Both go through ``datasets.load_dataset``.
        split: split to load (a single local file is read as this split).
        limit: keep at most this many questions, sampled by a seeded shuffle (None = all, file order).
        seed: sampling seed (generation seed for ``toy``).
        **options: ``config`` (hub config) and dataset-specific options (see each adapter).

    Returns:
        The questions, each through the data policy (``policy.py``); the same arguments always give
        the same list.
    """
    questions = DATASETS.get(dataset).load(dataset, source, split, limit, seed, **options)
    return _with_policy(dataset, questions)


def _with_policy(dataset: str, questions: list[Question]) -> list[Question]:
    """The data policy for every adapter (row adapters apply it already, naming file rows; this
    covers generators and plugin adapters, naming positions in their output)."""
    duplicates, out = DuplicateChecker(), []
    for position, question in enumerate(questions):
        where = f"question {position} of dataset {dataset!r}"
        try:
            checked = apply_policy(question)
        except PolicyError as err:
            raise PolicyError(f"{where}: {err}") from None
        if duplicates.keep(checked, where):  # a conflicting repeat raises naming both positions
            out.append(checked)
    return out
