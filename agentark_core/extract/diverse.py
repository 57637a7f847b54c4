"""Diverse augmentation (DA) set (paper §3.3.2, App. A.4): k ∈ {1, 2, 3} structurally different correct traces.

Per kept question the candidates are its correct final traces. Two selectors:

* LLM judge (``generator`` given): ONE batched ``generate`` call for all questions of the
  shard. The judge sees the problem, the ground truth and the numbered candidates and replies
  ``{"selected": [i, ...]}`` — 1 to 3 distinct candidate numbers (1-based) chosen for
  structural diversity (decomposition order, intermediate representation, solution path),
  not quality. A reply that is not exactly that falls back to the rule below and is counted.
* Greedy max-min (default / fallback): start from the first corrective trace (else the first
  correct one), then repeatedly add the candidate farthest (by its nearest selected trace)
  from the selection, until ``max_k`` traces or no candidate is more than ``min_distance``
  away. Distance = 1 − ROUGE-L F between the traces' step-shape sequences
  (``steps.trace_pattern``), with an exact bit-parallel LCS.

Each selected trace becomes an ``sft_examples`` row of kind "da", weight 1/k, group_size k
(the loss is averaged over the question's k traces).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from agentark_core.data.question import Question
from agentark_core.extract.counts import Counts
from agentark_core.extract.inputs import questions_by_id
from agentark_core.extract.sft_sets import correct_kept, sft_rows, with_final_answers
from agentark_core.extract.steps import trace_pattern
from agentark_core.llm.reasoning import answer_of
from agentark_core.llm.types import ChatRequest, Generator, SamplingParams
from agentark_core.mas.prompts import question_text

log = logging.getLogger(__name__)

MAX_K = 3
JUDGE_PROMPT = (
    "Problem:\n{problem}\n\nGround-truth answer: {gt}\n\n"
    "Below are {n} correct solutions.\n\n{solutions}\n\n"
    "Select between 1 and {max_k} solutions that are structurally different from each other: different "
    "decomposition order, intermediate representation or solution path. Judge diversity, not quality; "
    'all of them are correct. Reply with JSON only, exactly in the form {{"selected": [numbers]}}, '
    "using the solution numbers above."
)
JUDGE_PARAMS = SamplingParams(temperature=0.0, max_tokens=64)


@dataclass(frozen=True)
class SelectionStats(Counts):
    """DA selection counts: questions, judged by the LLM, fallbacks on invalid replies, traces selected."""

    questions: int = 0
    judged: int = 0
    fallback: int = 0
    selected: int = 0


def lcs_length(a: Sequence, b: Sequence) -> int:
    """Length of the longest common subsequence of two sequences of hashable symbols.

    Bit-parallel (Allison–Dix / Crochemore et al.): one big-int update per symbol of ``b``,
    so long traces cost O(len(a) · len(b) / word size).

    Example:
        >>> lcs_length("ABCBDAB", "BDCABA")
        4
    """
    if not a or not b:
        return 0
    masks: dict = {}
    for i, symbol in enumerate(a):
        masks[symbol] = masks.get(symbol, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for symbol in b:
        u = v & masks.get(symbol, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def structural_distance(a: Sequence, b: Sequence) -> float:
    """1 − ROUGE-L F1 of two step-shape sequences (0 = same structure, 1 = nothing in common)."""
    if a == b:  # same structure (or both empty): no LCS needed
        return 0.0
    return 1.0 - 2.0 * lcs_length(a, b) / (len(a) + len(b))


def greedy_diverse(
    patterns: Sequence[Sequence], start: int = 0, max_k: int = MAX_K, min_distance: float = 0.0
) -> list[int]:
    """Greedy max-min selection of structurally diverse items.

    Args:
        patterns: one step-shape sequence per candidate.
        start: index of the first pick.
        max_k: most items to select.
        min_distance: stop when no candidate is farther than this from the selection.

    Returns:
        Selected indices in pick order (ties go to the lower index).
    """
    selected = [start]
    nearest = [structural_distance(patterns[start], p) for p in patterns]
    while len(selected) < min(max_k, len(patterns)):
        best = max((i for i in range(len(patterns)) if i not in selected), key=lambda i: (nearest[i], -i))
        if nearest[best] <= min_distance:
            break
        selected.append(best)
        nearest = [min(d, structural_distance(patterns[best], p)) for d, p in zip(nearest, patterns)]
    return selected


def judge_prompt(question: Question, traces: Sequence[str], max_k: int = MAX_K) -> str:
    """The judge's prompt: problem (with context), ground truth and the candidates numbered from 1."""
    listed = "\n\n".join(f"Solution {i}:\n{t}" for i, t in enumerate(traces, 1))
    return JUDGE_PROMPT.format(
        problem=question_text(question, with_context=True),
        gt=question.gt,
        n=len(traces),
        solutions=listed,
        max_k=max_k,
    )


def parse_selection(reply: str, n_candidates: int, max_k: int = MAX_K) -> list[int] | None:
    """Strictly parse a judge reply into 0-based indices, or None when it is invalid.

    Valid: a JSON object whose ``"selected"`` is a list of 1 to ``max_k`` distinct integers
    (not booleans) in ``1..n_candidates``.

    Example:
        >>> parse_selection('{"selected": [3, 1]}', 4), parse_selection('{"selected": [5]}', 4)
        ([2, 0], None)
    """
    try:
        data = json.loads(reply)
    except (TypeError, ValueError):
        return None
    chosen = data.get("selected") if isinstance(data, dict) else None
    if not isinstance(chosen, list) or not 1 <= len(chosen) <= max_k or len(set(chosen)) != len(chosen):
        return None
    if not all(isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= n_candidates for i in chosen):
        return None
    return [i - 1 for i in chosen]


def build_da(
    trajectories: pd.DataFrame,
    questions: pd.DataFrame | dict[str, Question],
    generator: Generator | None = None,
    max_k: int = MAX_K,
    min_distance: float = 0.0,
    pattern_splitter: str = "line",
    judge_params: SamplingParams = JUDGE_PARAMS,
    rounds: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, SelectionStats]:
    """The DA set of one shard.

    Args:
        trajectories: ``build_trajectories`` output.
        questions: the shard's ``questions`` rows or ``{question_id: Question}``.
        generator: the judge LLM; None selects by greedy max-min only.
        max_k: most traces per question (1..3).
        min_distance: greedy stops adding traces closer than this to the selection.
        pattern_splitter: step splitter for the step-shape sequences.
        judge_params: the judge's sampling settings.
        rounds: the shard's ``inputs.agent_rounds``; when given, answers come from the labels.

    Returns:
        ``(sft_examples rows of kind "da", SelectionStats)``.
    """
    if not isinstance(max_k, int) or not 1 <= max_k <= MAX_K:
        raise ValueError(f"max_k must be an int in 1..{MAX_K}, got {max_k!r}")
    good = correct_kept(trajectories, corrective_first=True)  # candidate 0 = first corrective
    qids, traces = good["question_id"].tolist(), good["trace"].tolist()
    bounds = [i for i in range(len(qids)) if i == 0 or qids[i] != qids[i - 1]] + [len(qids)]
    groups = list(itertools.pairwise(bounds))
    lookup = questions_by_id(questions, set(qids))
    verdicts: list[list[int] | None] = [None] * len(groups)
    if generator is not None and groups:
        verdicts = _judge(generator, [(lookup[qids[a]], traces[a:b]) for a, b in groups], max_k, judge_params)
    rows, weights, sizes = [], [], []
    for (a, b), chosen in zip(groups, verdicts):
        if chosen is None:
            patterns = [trace_pattern(t, pattern_splitter) for t in traces[a:b]]
            chosen = greedy_diverse(patterns, 0, max_k, min_distance)
        rows.extend(a + i for i in chosen)
        weights.extend([1.0 / len(chosen)] * len(chosen))
        sizes.extend([len(chosen)] * len(chosen))
    judged = len(groups) if generator is not None else 0
    fallback = sum(v is None for v in verdicts) if generator is not None else 0
    if fallback:
        log.warning("DA judge: %d of %d replies invalid, greedy selection used", fallback, judged)
    picked = with_final_answers(good.iloc[rows], rounds).assign(weight=weights, group_size=sizes)
    stats = SelectionStats(questions=len(groups), judged=judged, fallback=fallback, selected=len(rows))
    return sft_rows(picked, lookup, "da"), stats


def _judge(
    generator: Generator, items: list[tuple[Question, list[str]]], max_k: int, params: SamplingParams
) -> list[list[int] | None]:
    """One batched judge call over every question; each reply parsed strictly (None = invalid)."""
    requests = [ChatRequest.user(judge_prompt(q, ts, max_k)) for q, ts in items]
    replies = generator.generate(requests, params)
    if len(replies) != len(requests):
        raise ValueError(f"DA judge returned {len(replies)} replies for {len(requests)} requests")
    return [parse_selection(answer_of(r).strip(), len(ts), max_k) for r, (_, ts) in zip(replies, items)]
