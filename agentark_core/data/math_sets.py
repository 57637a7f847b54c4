"""Math word-problem adapters: GSM8K, MATH (hendrycks / MATH-500) and MetaMathQA (paper §4, Table 1).

Ground truth comes from each dataset's own answer convention: GSM8K's ``#### 72``
line, MATH's last ``\\boxed{...}`` (via the ``last_boxed`` that grading uses) or MATH-500's
``answer`` field, MetaMathQA's closing ``The answer is: X``. The text before the answer
is the gold reasoning (used for reasoning perplexity on held-out traces).
"""

from __future__ import annotations

import re

from agentark_core.answers.extract import last_boxed
from agentark_core.data.base import DATASETS, RowAdapter, RowError, text
from agentark_core.data.question import Question

MATH_SUBJECTS = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)

_CALCULATOR = re.compile(r"<<[^<>]*>>")
_METAMATH_MARK = "The answer is"


def gsm8k_row(row: dict, *, dataset: str, split: str) -> list[Question]:
    """GSM8K (``question``, ``answer`` = reasoning + ``#### 72``) -> one math question.

    The gold reasoning drops the ``<<48/2=24>>`` calculator annotations.
    """
    answer = text(row, "answer")
    if "####" not in answer:
        raise RowError("field 'answer' has no '#### <final answer>' line")
    reasoning, final = answer.rsplit("####", 1)
    gt = final.strip().replace(",", "")
    if not gt:
        raise RowError("field 'answer' has an empty '####' line")
    gold = _CALCULATOR.sub("", reasoning).strip()
    return [Question(dataset, split, "math", text(row, "question").strip(), gt, gold_reasoning=gold)]


def math_row(row: dict, *, dataset: str, split: str) -> list[Question]:
    """MATH (``problem``, ``solution``[, ``answer``]) -> one math question.

    ``gt`` is the ``answer`` field when present (MATH-500), else the last ``\\boxed{}`` of the solution.
    """
    solution = text(row, "solution")
    gt = (row.get("answer") or "").strip() or last_boxed(solution)
    if not gt:
        raise RowError("no 'answer' field and no \\boxed{} answer in field 'solution'")
    return [
        Question(dataset, split, "math", text(row, "problem").strip(), gt, gold_reasoning=solution.strip())
    ]


def metamathqa_row(row: dict, *, dataset: str, split: str) -> list[Question]:
    """MetaMathQA (``query``, ``response`` ending in ``The answer is: X``) -> one math question."""
    response = text(row, "response")
    at = response.rfind(_METAMATH_MARK)
    gt = response[at + len(_METAMATH_MARK) :].lstrip(":").strip() if at >= 0 else ""
    if not gt:
        raise RowError(f"field 'response' does not end with '{_METAMATH_MARK}: X'")
    gold = response[:at].strip()
    return [Question(dataset, split, "math", text(row, "query").strip(), gt, gold_reasoning=gold)]


DATASETS.register("gsm8k")(RowAdapter("openai/gsm8k", gsm8k_row, configs=("main",)))
DATASETS.register("math")(RowAdapter("EleutherAI/hendrycks_math", math_row, configs=MATH_SUBJECTS))
DATASETS.register("math500")(RowAdapter("HuggingFaceH4/MATH-500", math_row))
DATASETS.register("metamathqa")(RowAdapter("meta-math/MetaMathQA", metamathqa_row))
