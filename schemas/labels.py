"""``labels`` and ``trajectories``: verified answers and the extracted trajectories (PAPER.md stage 2)."""

import pandera.pandas as pa
from pandera.typing import Series

from schemas.base import ArtifactModel, is_list_of_int, register

STATUSES = ["correct", "incorrect", "ungradable"]


@register("labels", version=1)
class LabelsSchema(ArtifactModel):
    question_id: Series[str] = pa.Field(str_length={"min_value": 1})
    agent_id: Series[int] = pa.Field(ge=-1)
    role: Series[str]
    round: Series[int] = pa.Field(ge=1)
    answer: Series[str] = pa.Field(nullable=True)
    status: Series[str] = pa.Field(isin=STATUSES)
    correct: Series[bool]
    verifier: Series[str]

    @pa.dataframe_check(name="correct_matches_status")
    def _consistent(cls, df):
        return df["correct"] == (df["status"] == "correct")

    class Config:
        name = "labels"


@register("trajectories", version=1, list_columns=("rounds_correct",))
class TrajectoriesSchema(ArtifactModel):
    """One row per (question, agent): its path through the rounds."""

    question_id: Series[str] = pa.Field(str_length={"min_value": 1})
    agent_id: Series[int] = pa.Field(ge=0)
    n_correct_final: Series[int] = pa.Field(ge=0)
    kept: Series[bool]
    final_correct: Series[bool]
    is_corrective: Series[bool]
    rounds_correct: Series[object]
    consensus_answer: Series[str] = pa.Field(nullable=True)
    trace: Series[str]

    @pa.check("rounds_correct", name="list_of_int")
    def _rounds(cls, s):
        return is_list_of_int(s)

    class Config:
        name = "trajectories"
