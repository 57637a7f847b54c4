"""Stage ``label``: verify every agent's answer in every round, and the aggregator's
(paper §3.2, App. A.3) -> ``labels``, one shard per debate shard.

A reply cut off at ``max_tokens`` (``finish_reason == "length"``, e.g. a reasoning model that ran out
of budget mid-thought) is labelled ``truncated``, never correct: a number it broke off near is luck,
not an answer. Its verifier verdict is kept in ``verdict`` (``extract.include_truncated`` opts in)."""

from __future__ import annotations

import pandas as pd

from tasks.fingerprint import fingerprint
from tasks.runner import Stage, StageContext
from tasks.stages import add
from tasks.stages.common import frame_of, loud, model_generator, rate

COLUMNS = ["question_id", "agent_id", "role", "round", "answer", "status", "verdict", "correct", "verifier"]
UNGRADABLE_WARN_FRACTION = 0.05  # issue 17: more than this is said loudly in the stage summary


def _questions(ctx: StageContext) -> dict[str, tuple]:
    if "questions" not in ctx.scratch:
        frame = ctx.input_frame("ingest")
        ctx.scratch["questions"] = {r.question_id: r for r in frame.itertuples(index=False)}
    return ctx.scratch["questions"]


def _verifier(ctx: StageContext):
    if "verifier" not in ctx.scratch:
        from agentark_core.verify import build_verifier

        section = ctx.recipe.label
        generator = None
        if section.model.model:  # the process-wide engine: a verifier that is the teacher reuses the debate's
            generator = model_generator(section.model.backend, section.model.model, section.model.options)
        ctx.scratch["verifier"] = build_verifier(section.verifier, generator=generator, **section.options)
    return ctx.scratch["verifier"]


def plan(ctx: StageContext) -> int:
    return ctx.store.read_manifest("debate", ctx.inputs["debate"].key)["n_shards"]


def run_shard(ctx: StageContext, index: int) -> pd.DataFrame:
    from agentark_core.verify import VerifyItem

    turns = ctx.store.read_shard("debate", ctx.inputs["debate"].key, index)
    questions = _questions(ctx)
    missing = sorted(set(turns["question_id"]) - set(questions))
    if missing:
        raise ValueError(f"debate shard {index} has question_id(s) not in the questions artifact: {missing[:5]}")
    items = []
    for turn in turns.itertuples(index=False):
        q = questions[turn.question_id]
        items.append(VerifyItem(question=q.query, gt=q.gt, task_type=q.task_type, response=turn.response,
                                choices=tuple(q.choices)))
    grades = _verifier(ctx).verify(items)
    name = ctx.recipe.label.verifier
    rows = []
    for t, g in zip(turns.itertuples(index=False), grades):
        status = "truncated" if t.finish_reason == "length" else g.status
        rows.append({"question_id": t.question_id, "agent_id": t.agent_id, "role": t.role, "round": t.round,
                     "answer": g.extracted if g.extracted is not None else t.answer, "status": status,
                     "verdict": g.status, "correct": status == "correct", "verifier": name})
    return frame_of(rows, COLUMNS)


def ungradable_by(labels: pd.DataFrame, groups: pd.Series) -> dict[str, dict]:
    """``{group: {"n", "ungradable", "rate"}}`` of the labels, grouped by ``groups`` (aligned with them):
    an ungradable answer is neither right nor wrong, so its count is reported next to each accuracy."""
    flags = (labels["status"] == "ungradable").groupby(groups.astype(str))
    return {str(name): {"n": int(g.size), "ungradable": int(g.sum()), "rate": round(float(g.mean()), 4)}
            for name, g in flags}


def summarize(ctx: StageContext) -> dict:
    from agentark_core.mas.base import AGGREGATOR_ID

    labels = pd.concat(list(ctx.output_frames()), ignore_index=True)
    final_rows = labels["agent_id"] == AGGREGATOR_ID  # the aggregator's (MAD: the judge's) answers
    agents = labels[~final_rows]
    first = agents[agents["round"] == 1]
    final = agents.loc[agents.groupby(["question_id", "agent_id"])["round"].idxmax()]
    agg = labels[final_rows]
    ungradable = float((labels["status"] == "ungradable").mean())
    warnings = [f"{ungradable:.0%} of {len(labels)} answers are ungradable (no answer the verifier could read)"
                ] if ungradable > UNGRADABLE_WARN_FRACTION else []
    datasets = _questions(ctx)
    by_dataset = ungradable_by(labels, labels["question_id"].map(lambda q: datasets[q].dataset))
    by_agent = ungradable_by(labels, labels["agent_id"].map(lambda a: "aggregator" if a == AGGREGATOR_ID else str(a)))
    warnings += [f"agent {name}: {row['ungradable']} of {row['n']} answers are ungradable"
                 for name, row in by_agent.items() if row["rate"] > UNGRADABLE_WARN_FRACTION and len(by_agent) > 1]
    return {
        "labels": len(labels),
        **rate("round1_agent_accuracy", first["correct"]),
        **rate("final_round_agent_accuracy", final["correct"]),
        **rate("aggregator_accuracy", agg["correct"]),
        "ungradable_fraction": round(ungradable, 4),
        "ungradable_by_dataset": by_dataset,
        "ungradable_by_agent": by_agent,
        "statuses": {k: int(v) for k, v in labels["status"].value_counts().items()},
        "truncated_fraction": round(float((labels["status"] == "truncated").mean()), 4),
        **loud("label", warnings),
    }


LABEL = add(Stage(
    name="label",
    version="2",
    schema="labels",
    reads=("label",),
    inputs=("debate", "ingest"),
    plan=plan,
    run_shard=run_shard,
    code=("agentark_core.verify", "agentark_core.answers"),
    summarize=summarize,
    fingerprint=lambda recipe: fingerprint(recipe.label.model.model),
    pool="gpu",
))
