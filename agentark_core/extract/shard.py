"""The extraction stage over a debate log, one shard at a time (paper §3.2 → §3.3 training sets).

``extract_shard(questions, turns, labels, config)`` turns one shard (all rows of its questions)
into the ``trajectories``, R-SFT, DA and PRM tables in one call: the library-level composition of
what the pipeline's ``trajectories``/``sft_rsft``/``sft_da``/``prm_data`` stages compute shard by
shard, for notebooks, tests and ``bench/bench_extraction.py``.

Example:
    >>> out = extract_shard(questions, turns, labels, ExtractConfig(min_correct=2))   # doctest: +SKIP
    >>> out.stats.kept, len(out.rsft)                                                  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from agentark_core.extract.diverse import MAX_K, SelectionStats, build_da
from agentark_core.extract.inputs import agent_rounds, questions_by_id
from agentark_core.extract.prm_sets import build_prm
from agentark_core.extract.sft_sets import build_rsft
from agentark_core.extract.steps import STEP_SPLITTERS
from agentark_core.extract.trajectories import TrajectoryStats, build_trajectories
from agentark_core.llm.types import Generator


@dataclass(frozen=True)
class ExtractConfig:
    """Extraction settings.

    Args:
        min_correct: least |A_correct| for a question to be kept (paper: 2).
        max_per_question: R-SFT traces per question (None: all correct ones).
        corrective_first: R-SFT takes corrective traces first.
        max_k: most DA traces per question (paper: 3).
        min_distance: DA greedy stops adding traces this close (structurally) to the selection.
        pattern_splitter: splitter of the step-shape sequences compared by DA.
        prm_splitter: splitter of PRM steps (match ``PRMConfig.step_separator``).
        include_truncated: train on replies cut off at ``max_tokens`` by their verifier verdict
            (default: never; see ``inputs.agent_rounds``).
        include_reasoning: traces (SFT targets, PRM steps) keep the reasoning model's think block.
    """

    min_correct: int = 2
    max_per_question: int | None = None
    corrective_first: bool = True
    max_k: int = MAX_K
    min_distance: float = 0.0
    pattern_splitter: str = "line"
    prm_splitter: str = "paragraph"
    include_truncated: bool = False
    include_reasoning: bool = False

    def __post_init__(self) -> None:
        STEP_SPLITTERS.get(self.pattern_splitter)  # unknown names fail with the valid list
        STEP_SPLITTERS.get(self.prm_splitter)
        if not 0.0 <= self.min_distance < 1.0:
            raise ValueError(f"ExtractConfig.min_distance must be in [0, 1), got {self.min_distance!r}")


@dataclass(frozen=True)
class ShardOutput:
    """What one shard yields: the four tables and its counters."""

    trajectories: pd.DataFrame
    rsft: pd.DataFrame
    da: pd.DataFrame
    prm: pd.DataFrame
    stats: TrajectoryStats
    selection: SelectionStats


def extract_shard(
    questions: pd.DataFrame,
    turns: pd.DataFrame,
    labels: pd.DataFrame,
    config: ExtractConfig | None = None,
    judge: Generator | None = None,
) -> ShardOutput:
    """Extract trajectories and the three training sets from one shard.

    Args:
        questions: the shard's ``questions`` rows (may hold more questions than the log uses).
        turns: the shard's ``debate_turns`` rows.
        labels: the ``labels`` rows of those turns.
        config: extraction settings (defaults when None).
        judge: the DA judge LLM; None selects diverse traces by greedy max-min.

    Returns:
        A ``ShardOutput``.
    """
    config = config or ExtractConfig()
    rounds = agent_rounds(turns, labels, config.include_truncated, config.include_reasoning)
    lookup = questions_by_id(questions, rounds["question_id"].unique().tolist())
    trajectories, stats = build_trajectories(rounds, lookup, config.min_correct)
    rsft = build_rsft(trajectories, lookup, config.max_per_question, config.corrective_first, rounds)
    da, selection = build_da(
        trajectories, lookup, judge, config.max_k, config.min_distance, config.pattern_splitter, rounds=rounds
    )
    prm = build_prm(trajectories, rounds, lookup, config.prm_splitter)
    return ShardOutput(trajectories, rsft, da, prm, stats, selection)
