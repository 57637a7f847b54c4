"""Evaluate a model on questions, single agent and MAS through the same code (paper §4).

``evaluate_questions`` runs a registered MAS protocol (``cot`` is the single-agent
baseline), takes each question's final turn — the aggregator or judge row when the
protocol has one (debate, self_consistency vote, mad judge), else its only turn
(cot) — grades its extracted answer with ``grade`` (through the ``accuracy``
metric's ``grade_items``) and returns ``eval_records`` and ``eval_summary`` rows
(``schemas/evaluation.py``).

A record's tokens, calls and latency add up ALL turns of its question (a vote row
makes no model call), so MAS and single-agent records compare cost directly. Its
``score`` is the token F1 of the answer for short/longform questions, else None.
A final turn cut off at ``max_tokens`` (``finish_reason`` "length") is status
``truncated``: wrong for accuracy, counted apart (``truncated_rate``).

Example:
    >>> records, summary = evaluate_questions(qs, gen, "debate", {"n_agents": 3}, "qwen", "gsm8k")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from agentark_core.answers.extract import TEXT_TASK_TYPES
from agentark_core.data.question import Question
from agentark_core.evaluate.cost import per_question_cost, summarize_cost
from agentark_core.evaluate.metrics import compute_metric, grade_items
from agentark_core.evaluate.stats import wilson_interval
from agentark_core.llm.types import Generator

log = logging.getLogger(__name__)

FINAL_ROLES = ("aggregator", "judge")
TEXT_METRICS = ("token_f1", "rouge1", "rouge2", "rougeL")


def final_turns(questions: Sequence[Question], turns: Sequence[Any]) -> dict[str, Any]:
    """Each question's final turn: its aggregator/judge turn, or its only turn.

    Raises:
        ValueError: a question has no turn, several final turns, or several turns and no final one.
    """
    by_question: dict[str, list] = {}
    for t in turns:
        by_question.setdefault(t.question_id, []).append(t)
    out = {}
    for q in questions:
        own = by_question.get(q.question_id, [])
        final = [t for t in own if t.role in FINAL_ROLES] or (own if len(own) == 1 else [])
        if len(final) != 1:
            raise ValueError(
                f"question {q.question_id}: expected one final turn (role in {FINAL_ROLES} or a single "
                f"turn), found {len(final)} among {len(own)} turns"
            )
        out[q.question_id] = final[0]
    return out


def records_from_turns(
    questions: Sequence[Question], turns: Sequence[Any], protocol: str, model_name: str, benchmark: str
) -> list[dict[str, Any]]:
    """Grade each question's final answer and build one ``eval_records`` row per question.

    Args:
        questions: the evaluated questions.
        turns: every turn of the protocol run (``agentark_core.mas.Turn``).
        protocol, model_name, benchmark: labels stored on each row.

    Returns:
        ``eval_records`` rows, in question order.
    """
    finals = final_turns(questions, turns)
    costs = per_question_cost(
        {
            "question_id": t.question_id,
            "prompt_tokens": t.prompt_tokens,
            "completion_tokens": t.completion_tokens,
            "latency_s": t.latency_s,
            "calls": int(bool(t.messages)),
        }
        for t in turns
    )
    answers = [finals[q.question_id].answer or "" for q in questions]  # "" grades as ungradable
    grades = grade_items(
        answers, [q.gt for q in questions], [q.task_type for q in questions], [q.choices for q in questions]
    )
    records = []
    for q, answer, g in zip(questions, answers, grades):
        final, cost = finals[q.question_id], costs[q.question_id]
        score = compute_metric("token_f1", [answer], [q.gt]).value if q.task_type in TEXT_TASK_TYPES else None
        records.append(
            {
                "question_id": q.question_id,
                "benchmark": benchmark,
                "model": model_name,
                "protocol": protocol,
                "response": final.response,
                "answer": final.answer,
                "status": "truncated" if final.finish_reason == "length" else g.status,
                "correct": g.correct and final.finish_reason != "length",
                "score": score,
                "prompt_tokens": cost.prompt_tokens,
                "completion_tokens": cost.completion_tokens,
                "calls": cost.calls,
                "latency_s": cost.latency_s,
            }
        )
    return records


def summarize_records(
    questions: Sequence[Question],
    records: Sequence[Mapping[str, Any]],
    text_metrics: Sequence[str] = TEXT_METRICS,
) -> list[dict[str, Any]]:
    """``eval_summary`` rows of one (benchmark, model, protocol) run.

    Args:
        questions: the evaluated questions, aligned with ``records``.
        records: ``eval_records`` rows of one benchmark, model and protocol.
        text_metrics: metrics (``METRICS`` names) computed on the short/longform questions.

    Returns:
        Rows for ``accuracy`` (and its 95% Wilson interval, ``accuracy_ci_low`` / ``accuracy_ci_high``),
        ``ungradable_rate``, ``truncated_rate``, each text metric (when there are short/longform
        questions; value None when the metric was skipped) and per-question cost means
        (``prompt_tokens``, ``completion_tokens``, ``calls``, ``latency_s`` with suffix ``_per_question``).
    """
    if len(questions) != len(records):
        raise ValueError(f"{len(questions)} questions but {len(records)} records")
    if not records:
        raise ValueError("no records to summarise")
    labels = {k: records[0][k] for k in ("benchmark", "model", "protocol")}
    n = len(records)

    def row(metric: str, value: float | None, count: int) -> dict[str, Any]:
        return {**labels, "metric": metric, "value": value, "n": count}

    right = sum(bool(r["correct"]) for r in records)
    low, high = wilson_interval(right, n)
    rows = [
        row("accuracy", right / n, n),
        row("accuracy_ci_low", low, n),  # the 95% Wilson interval of the accuracy
        row("accuracy_ci_high", high, n),
        row("ungradable_rate", sum(r["status"] == "ungradable" for r in records) / n, n),
        row("truncated_rate", sum(r["status"] == "truncated" for r in records) / n, n),
    ]
    text = [(q, r) for q, r in zip(questions, records) if q.task_type in TEXT_TASK_TYPES]
    for name in text_metrics if text else ():
        result = compute_metric(name, [r["answer"] or "" for _, r in text], [q.gt for q, _ in text])
        if result.skipped:
            log.warning("%s: %s", name, result.note)
        rows.append(row(name, result.value, result.n))
    cost = summarize_cost(per_question_cost(records))
    for field, value in cost.as_dict().items():
        if field != "n_questions":
            rows.append(row(f"{field}_per_question", value, cost.n_questions))
    return rows


def evaluate_questions(
    questions: Sequence[Question],
    generator: Generator,
    protocol: str,
    protocol_config: Any = None,
    model_name: str = "model",
    benchmark: str = "benchmark",
    text_metrics: Sequence[str] = TEXT_METRICS,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run ``protocol`` with ``generator`` on ``questions`` and grade the final answers.

    Args:
        questions: questions of one benchmark, with distinct ids.
        generator: any ``Generator`` (student or teacher backend).
        protocol: a registered MAS protocol; ``"cot"`` evaluates a single agent.
        protocol_config: the protocol's config dataclass, a mapping of its fields (recipe), or None.
        model_name, benchmark: labels of the rows.
        text_metrics: metrics for short/longform questions (see ``summarize_records``).

    Returns:
        ``(eval_records rows, eval_summary rows)``.
    """
    from agentark_core.mas import make_config, run_protocol

    if not questions:
        raise ValueError("no questions to evaluate")
    if protocol_config is None or isinstance(protocol_config, Mapping):
        protocol_config = make_config(protocol, dict(protocol_config or {}))
    turns = run_protocol(protocol, questions, generator, protocol_config)
    records = records_from_turns(questions, turns, protocol, model_name, benchmark)
    summary = summarize_records(questions, records, text_metrics)
    log.info(
        "%s/%s/%s: accuracy %.3f on %d questions",
        benchmark,
        model_name,
        protocol,
        summary[0]["value"],
        len(records),
    )
    return records, summary
