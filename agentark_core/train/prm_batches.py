"""PRM training data: ``prm_examples`` rows checked and encoded, the held-out split, and batches of
whole questions (so the contrastive loss sees a question's positive and negative steps together).

Used by ``prm_train.train_prm``; ``split_examples`` also by the PRM's evaluation stage.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Any

from agentark_core.train.records import as_records

if TYPE_CHECKING:
    from agentark_core.train.prm_config import PRMConfig

logger = logging.getLogger(__name__)

PRM_COLUMNS = {"question_id": str, "trace_id": str, "prompt": str, "steps": list, "step_labels": list}


def load_traces(examples: Any, tokenizer, config: PRMConfig) -> list[dict]:
    """Validate ``prm_examples`` rows and encode them.

    Returns:
        One dict per trace: ``question_id``, ``input_ids``, ``step_ends``, ``step_starts`` and ``labels``
        (same length).
    """
    from agentark_core.train.prm_model import encode_trace

    traces, dropped = [], 0
    for i, row in enumerate(as_records(examples, PRM_COLUMNS, "prm_examples")):
        steps, labels = row["steps"], row["step_labels"]
        if len(steps) != len(labels):
            raise ValueError(f"prm_examples row {i}: {len(steps)} steps but {len(labels)} step_labels")
        if any(not isinstance(s, str) or not s.strip() for s in steps):
            raise ValueError(f"prm_examples row {i}, column 'steps': every step must be a non-empty string")
        if any(label not in (0, 1) or isinstance(label, float) for label in labels):
            raise ValueError(
                f"prm_examples row {i}, column 'step_labels': labels must be 0 or 1, got {labels}"
            )
        ids, ends, starts = encode_trace(tokenizer, row["prompt"], steps, config.step_separator, config.max_length)
        dropped += len(steps) - len(ends)
        if ends:
            traces.append(
                {
                    "question_id": row["question_id"],
                    "input_ids": ids,
                    "step_ends": ends,
                    "step_starts": starts,
                    "labels": [int(x) for x in labels[: len(ends)]],
                }
            )
    if dropped:
        logger.warning("PRM: %d steps beyond max_length=%s dropped", dropped, config.max_length)
    if not traces:
        raise ValueError("prm_examples: no trace has a step within max_length")
    return traces


def split_examples(examples: Any, config: PRMConfig) -> tuple[list[dict], list[dict]]:
    """``(training rows, held-out rows)`` of ``prm_examples``: ``config.heldout_fraction`` of the
    questions, chosen by ``prm_eval.heldout_questions`` (deterministic for ``config.seed``), are held out."""
    from agentark_core.evaluate.prm_eval import heldout_questions

    rows = as_records(examples, PRM_COLUMNS, "prm_examples")
    held = heldout_questions([r["question_id"] for r in rows], config.heldout_fraction, config.seed)
    return [r for r in rows if r["question_id"] not in held], [r for r in rows if r["question_id"] in held]


def question_batches(traces: list[dict], traces_per_batch: int, rng: random.Random) -> list[list[dict]]:
    """Shuffle questions and pack whole questions into batches of at most ``traces_per_batch`` traces
    (a question with more traces than that forms a batch of its own)."""
    by_question: dict[str, list[dict]] = {}
    for trace in traces:
        by_question.setdefault(trace["question_id"], []).append(trace)
    groups = list(by_question.values())
    rng.shuffle(groups)
    batches: list[list[dict]] = []
    for group in groups:
        if batches and len(batches[-1]) + len(group) <= traces_per_batch:
            batches[-1].extend(group)
        else:
            batches.append(list(group))
    return batches


def batch_tensors(batch: list[dict], pad_token_id: int, padding_free: bool = False) -> dict:
    """Collate a batch: model inputs plus step ``labels`` and ``groups`` (one id per (question, position))."""
    import torch

    from agentark_core.train.prm_model import collate_traces

    tensors = collate_traces([(t["input_ids"], t["step_ends"], t["step_starts"]) for t in batch], pad_token_id, padding_free)
    group_ids: dict[tuple[str, int], int] = {}
    groups = [
        group_ids.setdefault((t["question_id"], pos), len(group_ids))
        for t in batch
        for pos in range(len(t["step_ends"]))
    ]
    tensors["labels"] = torch.tensor([y for t in batch for y in t["labels"]], dtype=torch.long)
    tensors["groups"] = torch.tensor(groups, dtype=torch.long)
    return tensors
