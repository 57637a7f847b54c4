"""The extraction stage over a debate log, one shard at a time (paper §3.2 → §3.3 training sets).

``extract_shard(questions, turns, labels, config)`` turns one shard (all rows of its questions)
into the ``trajectories``, R-SFT, DA and PRM tables; ``extract_stream`` maps it over an
iterable of shards so memory stays bounded by one shard whatever the log size, and
``total_stats`` adds their counters; ``workers=N`` spreads shards over N processes.

Example:
    >>> for out in extract_stream(shards, ExtractConfig(min_correct=2)):   # doctest: +SKIP
    ...     write(out.trajectories, out.rsft, out.da, out.prm)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial

import pandas as pd

from agentark_core.extract.diverse import MAX_K, SelectionStats, build_da
from agentark_core.extract.inputs import agent_rounds, questions_by_id
from agentark_core.extract.parallel import map_shards
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


def extract_stream(
    shards: Iterable[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]],
    config: ExtractConfig | None = None,
    judge: Generator | None = None,
    workers: int = 1,
    max_in_flight: int | None = None,
) -> Iterator[ShardOutput]:
    """``extract_shard`` over ``(questions, turns, labels)`` shards, lazily, in order.

    Args:
        shards: the log's shards, read lazily.
        config: extraction settings (defaults when None).
        judge: the DA judge LLM (one process only: a backend is not shared with workers).
        workers: processes (``parallel.map_shards``); 1 extracts here, one shard at a time.
        max_in_flight: most shards held by the pool at once (default ``2 * workers``).

    Returns:
        An iterator of ``ShardOutput``, one per shard, in input order.
    """
    if judge is not None and workers != 1:
        raise ValueError("extract_stream: a DA judge runs in this process only; pass workers=1 with a judge")
    yield from map_shards(partial(_extract_one, config=config, judge=judge), shards, workers, max_in_flight)


def _extract_one(
    shard: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    config: ExtractConfig | None,
    judge: Generator | None,
) -> ShardOutput:
    questions, turns, labels = shard
    return extract_shard(questions, turns, labels, config, judge)


def total_stats(outputs: Iterable[ShardOutput]) -> tuple[TrajectoryStats, SelectionStats]:
    """The summed counters of several shards' outputs."""
    stats, selection = TrajectoryStats(), SelectionStats()
    for out in outputs:
        stats, selection = stats + out.stats, selection + out.selection
    return stats, selection
