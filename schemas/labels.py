"""``labels`` and ``trajectories``: verified answers and the extracted trajectories (paper App. A.3)."""

import pandera.pandas as pa
from pandera.typing import Series

from schemas.base import ArtifactModel, is_list_of_int, register

VERDICTS = ["correct", "incorrect", "ungradable"]  # what a verifier can say about an answer
# A label's status: the verdict, or "truncated" for a reply cut off at max_tokens (never correct).
STATUSES = [*VERDICTS, "truncated"]


@register("labels", version=2)
class LabelsSchema(ArtifactModel):
    """v2: ``status`` may be "truncated" (the turn's ``finish_reason`` was "length"); ``verdict`` keeps
    the verifier's verdict on such a reply, which ``extract.include_truncated`` can opt into."""

    question_id: Series[str] = pa.Field(str_length={"min_value": 1})
    agent_id: Series[int] = pa.Field(ge=-1)
    role: Series[str]
    round: Series[int] = pa.Field(ge=1)
    answer: Series[str] = pa.Field(nullable=True)
    status: Series[str] = pa.Field(isin=STATUSES)
    verdict: Series[str] = pa.Field(isin=VERDICTS)
    correct: Series[bool]
    verifier: Series[str]

    @pa.dataframe_check(name="correct_matches_status")
    def _consistent(cls, df):
        return df["correct"] == (df["status"] == "correct")

    @pa.dataframe_check(name="status_is_verdict_unless_truncated")
    def _verdict(cls, df):
        return (df["status"] == df["verdict"]) | (df["status"] == "truncated")

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
