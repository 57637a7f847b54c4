"""``questions``: the normalised question set every stage reads (``agentark_core.data``)."""

import pandera.pandas as pa
from pandera.typing import Series

from agentark_core.data.question import TASK_TYPES
from schemas.base import ArtifactModel, is_list_of_str, register


@register("questions", version=1, list_columns=("choices",))
class QuestionsSchema(ArtifactModel):
    question_id: Series[str] = pa.Field(str_length={"min_value": 1}, unique=True)
    dataset: Series[str]
    split: Series[str]
    task_type: Series[str] = pa.Field(isin=list(TASK_TYPES))
    query: Series[str] = pa.Field(str_length={"min_value": 1})
    gt: Series[str]
    context: Series[str]
    choices: Series[object]
    gold_reasoning: Series[str]

    @pa.check("choices", name="list_of_str")
    def _choices(cls, s):
        return is_list_of_str(s)

    class Config:
        name = "questions"
