"""``eval_records`` and ``eval_summary`` (paper §4)."""

import pandera.pandas as pa
from pandera.typing import Series

from schemas.base import ArtifactModel, register
from schemas.labels import STATUSES


@register("eval_records", version=2)
class EvalRecordsSchema(ArtifactModel):
    """v2: ``status`` may be "truncated" (the final reply was cut off at ``max_tokens``; never correct)."""

    question_id: Series[str]
    benchmark: Series[str]
    model: Series[str]
    protocol: Series[str]
    response: Series[str]
    answer: Series[str] = pa.Field(nullable=True)
    status: Series[str] = pa.Field(isin=STATUSES)
    correct: Series[bool]
    score: Series[float] = pa.Field(nullable=True)
    prompt_tokens: Series[int] = pa.Field(ge=0)
    completion_tokens: Series[int] = pa.Field(ge=0)
    calls: Series[int] = pa.Field(ge=0)
    latency_s: Series[float] = pa.Field(ge=0)

    class Config:
        name = "eval_records"


@register("eval_summary", version=1)
class EvalSummarySchema(ArtifactModel):
    benchmark: Series[str]
    model: Series[str]
    protocol: Series[str]
    metric: Series[str]
    value: Series[float] = pa.Field(nullable=True)
    n: Series[int] = pa.Field(ge=0)

    class Config:
        name = "eval_summary"
