"""Stages ``trajectories``, ``sft_rsft``, ``sft_da``, ``prm_data``: knowledge extraction
(paper §3.2, App. A.3-A.4) from labelled debate logs, one shard per debate shard (all of a
question's turns are in one shard, so memory stays bounded whatever the log size)."""

from __future__ import annotations

import dataclasses

import pandas as pd

from tasks.fingerprint import fingerprint
from tasks.runner import Stage, StageContext
from tasks.stages import add
from tasks.stages.common import cached_input, loud, merge_warnings, model_generator, rate

CODE = ("agentark_core.extract", "agentark_core.answers")
ROUNDS = ("extract.include_truncated", "extract.include_reasoning")  # read by every stage through agent_rounds


def _shard_inputs(ctx: StageContext, index: int):
    """(rounds, question lookup) for debate shard ``index``."""
    from agentark_core.extract import agent_rounds, questions_by_id

    turns = ctx.store.read_shard("debate", ctx.inputs["debate"].key, index)
    labels = ctx.store.read_shard("label", ctx.inputs["label"].key, index)
    section = ctx.recipe.extract
    rounds = agent_rounds(turns, labels, section.include_truncated, section.include_reasoning)
    return rounds, questions_by_id(cached_input(ctx, "ingest"), set(rounds["question_id"]))


def _trajectories(ctx: StageContext, index: int) -> pd.DataFrame:
    from schemas import validate

    ref = ctx.inputs["trajectories"]
    return validate(ctx.store.read_shard(ref.stage, ref.key, index), "trajectories")


def n_debate_shards(ctx: StageContext) -> int:
    return ctx.store.read_manifest("debate", ctx.inputs["debate"].key)["n_shards"]


def trajectories_shard(ctx: StageContext, index: int) -> pd.DataFrame:
    from agentark_core.extract import build_trajectories

    rounds, lookup = _shard_inputs(ctx, index)
    frame, _ = build_trajectories(rounds, lookup, ctx.recipe.extract.min_correct)
    return frame


def trajectories_summary(ctx: StageContext) -> dict:
    frame = pd.concat(list(ctx.output_frames()), ignore_index=True)
    per_q = frame.groupby("question_id")["kept"].first()
    truncated = int(frame["rounds_correct"].map(lambda r: r[-1] == -2).sum())
    return {"trajectories": len(frame), "questions": len(per_q), "kept_questions": int(per_q.sum()),
            "dropped_questions": int((~per_q).sum()), "corrective": int(frame["is_corrective"].sum()),
            "truncated_final": truncated, **rate("final_correct_rate", frame["final_correct"])}


def rsft_shard(ctx: StageContext, index: int) -> pd.DataFrame:
    from agentark_core.extract import build_rsft

    rounds, lookup = _shard_inputs(ctx, index)
    section = ctx.recipe.extract
    return build_rsft(_trajectories(ctx, index), lookup, section.max_per_question, section.corrective_first, rounds)


def _judge(ctx: StageContext):
    judge = ctx.recipe.extract.judge
    if not judge.model:
        return None
    return model_generator(judge.backend, judge.model, judge.options)  # the process-wide engine


def da_shard(ctx: StageContext, index: int) -> pd.DataFrame:
    from agentark_core.extract import build_da

    rounds, lookup = _shard_inputs(ctx, index)
    s = ctx.recipe.extract
    frame, stats = build_da(_trajectories(ctx, index), lookup, _judge(ctx), s.max_k, s.min_distance,
                            s.pattern_splitter, rounds=rounds)
    ctx.scratch.setdefault("selection", []).append(stats)
    return frame


def prm_shard(ctx: StageContext, index: int) -> pd.DataFrame:
    from agentark_core.extract import build_prm

    rounds, lookup = _shard_inputs(ctx, index)
    return build_prm(_trajectories(ctx, index), rounds, lookup, ctx.recipe.extract.prm_splitter)


def da_summary(ctx: StageContext) -> dict:
    """``sft_summary`` plus judge fallbacks counted over the shards this run computed, and a loud
    warning when DA picked exactly the traces R-SFT trains on (the two routes would learn the same set)."""
    from agentark_core.extract import example_id, rsft_picks

    out = sft_summary(ctx)
    section = ctx.recipe.extract
    rsft = set()
    for index in range(n_debate_shards(ctx)):
        picks = rsft_picks(_trajectories(ctx, index), section.max_per_question, section.corrective_first)
        rsft |= {example_id("da", q, a) for q, a in zip(picks["question_id"], picks["agent_id"])}
    ids = set(pd.concat(list(ctx.output_frames()), ignore_index=True)["example_id"])
    if ids and ids == rsft:
        message = (f"the DA set is the R-SFT set: the same {len(ids)} traces (no kept question had more than "
                   f"max_k={section.max_k} correct traces to choose from), so routes da and rsft train on the same data")
        out = merge_warnings(out, loud("sft_da", [message]))
    stats = ctx.scratch.get("selection", [])
    if stats:
        total = stats[0]
        for more in stats[1:]:
            total = total + more
        out["selection"] = dataclasses.asdict(total)
    return out


def sft_summary(ctx: StageContext) -> dict:
    """Size of an SFT set; one under ``extract.min_examples`` is a loud warning, not silent training."""
    frame = pd.concat(list(ctx.output_frames()), ignore_index=True)
    out = {"examples": len(frame), "questions": int(frame["question_id"].nunique())}
    if len(frame):
        out["mean_group_size"] = round(float(frame.groupby("question_id").size().mean()), 3)
    least = ctx.recipe.extract.min_examples
    if len(frame) < least:
        message = (f"only {len(frame)} training example(s) from {out['questions']} question(s), "
                   f"under extract.min_examples={least}: a route trained on it says little")
        out |= loud(ctx.stage.name, [message])
    return out


def prm_summary(ctx: StageContext) -> dict:
    frame = pd.concat(list(ctx.output_frames()), ignore_index=True)
    labels = [label for row in frame["step_labels"] for label in row]
    return {"traces": len(frame), "steps": len(labels), "positive_steps": int(sum(labels)),
            "negative_steps": int(len(labels) - sum(labels)),
            "sources": frame["source"].value_counts().to_dict()}


INPUTS = ("debate", "label", "ingest")
TRAJECTORIES = add(Stage(name="trajectories", version="1", schema="trajectories", reads=("extract.min_correct", *ROUNDS),
                         inputs=INPUTS, plan=n_debate_shards, run_shard=trajectories_shard, code=CODE,
                         summarize=trajectories_summary))
SFT_RSFT = add(Stage(name="sft_rsft", version="1", schema="sft_examples",
                     reads=("extract.max_per_question", "extract.corrective_first", "extract.min_examples",
                            *ROUNDS),
                     inputs=INPUTS + ("trajectories",), plan=n_debate_shards, run_shard=rsft_shard, code=CODE,
                     summarize=sft_summary))
SFT_DA = add(Stage(name="sft_da", version="1", schema="sft_examples",
                   reads=("extract.max_k", "extract.min_distance", "extract.pattern_splitter", "extract.judge",
                          "extract.min_examples", "extract.max_per_question", "extract.corrective_first",
                          *ROUNDS),
                   inputs=INPUTS + ("trajectories",), plan=n_debate_shards, run_shard=da_shard,
                   code=CODE + ("agentark_core.llm",), summarize=da_summary,
                   fingerprint=lambda recipe: fingerprint(recipe.extract.judge.model)))
PRM_DATA = add(Stage(name="prm_data", version="1", schema="prm_examples", reads=("extract.prm_splitter", *ROUNDS),
                     inputs=INPUTS + ("trajectories",), plan=n_debate_shards, run_shard=prm_shard, code=CODE,
                     summarize=prm_summary))
