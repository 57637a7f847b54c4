"""``debate_turns``: one row per (question, agent, round) plus the aggregator/judge row (paper App. A.2).

v2: ``reasoning`` (a reasoning model's think block, split off ``response``; "" without one) and
``finish_reason`` (stop | length | error; "length" = cut off at ``max_tokens``, labelled truncated).
"""

import pandera.pandas as pa
from pandera.typing import Series

from agentark_core.llm.reasoning import FINISH_REASONS
from agentark_core.mas.base import ROLES
from schemas.base import ArtifactModel, is_json_text, register


@register("debate_turns", version=2)
class DebateTurnsSchema(ArtifactModel):
    question_id: Series[str] = pa.Field(str_length={"min_value": 1})
    protocol: Series[str]
    agent_id: Series[int] = pa.Field(ge=-1)
    role: Series[str] = pa.Field(isin=list(ROLES))
    round: Series[int] = pa.Field(ge=1)
    messages_json: Series[str]
    prompt_hash: Series[str]
    response: Series[str]
    answer: Series[str] = pa.Field(nullable=True)
    prompt_tokens: Series[int] = pa.Field(ge=0)
    completion_tokens: Series[int] = pa.Field(ge=0)
    latency_s: Series[float] = pa.Field(ge=0)
    reasoning: Series[str]
    finish_reason: Series[str] = pa.Field(isin=list(FINISH_REASONS))

    @pa.check("messages_json", name="json_text")
    def _messages(cls, s):
        return is_json_text(s)

    @pa.dataframe_check(name="unique_turn")
    def _unique_turn(cls, df):
        return ~df.duplicated(["question_id", "agent_id", "role", "round"], keep=False)

    class Config:
        name = "debate_turns"
