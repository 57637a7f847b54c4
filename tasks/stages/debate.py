"""Stage ``debate``: run the recipe's MAS protocol with the teacher over the questions
(paper §3.2, App. A.2) -> ``debate_turns``, sharded by questions, every round kept."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd

from tasks.runner import Stage, StageContext
from tasks.stages import add
from tasks.stages.common import (
    cached_input,
    frame_of,
    generator_for,
    questions_from_frame,
    shard_seed,
    truncation_summary,
)

COLUMNS = ["question_id", "protocol", "agent_id", "role", "round", "messages_json", "prompt_hash", "response",
           "answer", "prompt_tokens", "completion_tokens", "latency_s", "reasoning", "finish_reason"]


def protocol_config(section, shard_index: int):
    """The protocol's own config from the recipe's debate section (only the fields it has).

    Each shard gets its own seed so shards are independent of the order they run in.
    """
    from agentark_core.mas.base import PROTOCOLS, make_config

    spec = PROTOCOLS.get(section.protocol)
    wanted = {f.name for f in dataclasses.fields(spec.config_cls)}
    values = {k: v for k, v in dataclasses.asdict(section).items() if k in wanted}
    if "seed" in values:
        values["seed"] = shard_seed(section.seed, shard_index)
    return make_config(section.protocol, values)


def plan(ctx: StageContext) -> int:
    return max(1, math.ceil(len(cached_input(ctx, "ingest")) / ctx.recipe.debate.shard_size))


def run_shard(ctx: StageContext, index: int) -> pd.DataFrame:
    from agentark_core.mas import run_protocol

    section = ctx.recipe.debate
    frame = cached_input(ctx, "ingest").iloc[index * section.shard_size:(index + 1) * section.shard_size]
    generator = generator_for(ctx, "teacher", ctx.recipe.teacher.backend, ctx.recipe.teacher.options)
    turns = run_protocol(section.protocol, questions_from_frame(frame), generator, protocol_config(section, index))
    return frame_of([t.to_row() for t in turns], COLUMNS)


def summarize(ctx: StageContext) -> dict:
    from agentark_core.mas.base import AGGREGATOR_ID

    turns = pd.concat(list(ctx.output_frames()), ignore_index=True)
    agents = turns[turns["agent_id"] != AGGREGATOR_ID]  # the aggregator's or MAD judge's row is no agent
    per_q = turns.groupby("question_id")
    return {
        "questions": int(per_q.ngroups),
        "turns": len(turns),
        "mean_rounds": round(float(agents.groupby("question_id")["round"].max().mean()), 3),
        "completion_tokens_per_question": round(float(per_q["completion_tokens"].sum().mean()), 1),
        "calls_per_question": round(float(per_q.size().mean()), 2),
        "unanswered_turns": int(turns["answer"].isna().sum()),
        **truncation_summary("debate", turns),
    }


DEBATE = add(Stage(
    name="debate",
    version="2",
    schema="debate_turns",
    reads=("debate", "teacher.backend", "teacher.options"),
    inputs=("ingest", "teacher"),
    plan=plan,
    run_shard=run_shard,
    code=("agentark_core.mas", "agentark_core.llm", "agentark_core.answers"),
    summarize=summarize,
    pool="gpu",
))
