"""Evaluation stages (paper §4): one ``eval_*`` stage per evaluated model -> ``eval_records``,
then ``report`` -> ``eval_summary`` plus a markdown/HTML report with plots in its files.

``eval_teacher``, ``eval_mas`` and ``eval_base`` (the untrained student) are defined here; a
route's ``eval_<route>`` is derived from its registration (``tasks/stages/routes.py``).
Single-agent and MAS evaluation go through the same code (``evaluate_questions``): the
teacher's MAS row (``eval_mas``) runs the recipe's debate protocol, every other model ``cot``.
Each eval stage's manifest also holds reasoning-token perplexity on the gold traces (when the
test set has them) and, when ``eval.judge`` names a model, the LLM judge's reasoning scores.

One model is evaluated once whatever the stage: an evaluation's identity hashes the model's content,
the values of the settings it reads, the questions and the code, not the stage's name or row label;
when a committed evaluation has the same identity (``eval_base`` and ``eval_teacher`` when the
student is the teacher, or two routes sharing one trained model), its shards are copied with this
stage's label and its perplexity and judge scores reused.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pandas as pd

from agentark_core.config_loader import to_dict
from tasks.runner import Stage, StageContext, code_digest, stage_modules
from tasks.stages import STAGES, add
from tasks.stages.checkpoints import checkpoint_identity, model_location
from tasks.stages.common import (
    cached_input,
    frame_of,
    generator_for,
    loud,
    merge_warnings,
    model_generator,
    questions_from_frame,
    rate,
    shard_seed,
)

COLUMNS = ["question_id", "benchmark", "model", "protocol", "response", "answer", "status", "correct", "score",
           "prompt_tokens", "completion_tokens", "calls", "latency_s"]
BASE = "base"  # the untrained student's route name in eval.routes and the report
EVAL_WARN_FRACTION = 0.05
CODE = ("agentark_core.evaluate", "agentark_core.mas", "agentark_core.answers", "agentark_core.llm")


def _single_config(recipe, shard: int):
    from agentark_core.mas import make_config

    section = recipe.eval
    return make_config("cot", {"temperature": section.temperature, "max_tokens": section.max_tokens,
                               "seed": shard_seed(section.seed, shard)})


def model_role(model_input: str) -> str:
    """The recipe section whose backend runs the model: the teacher's, else the student's."""
    return "teacher" if model_input == "teacher" else "student"


def eval_stage(label: str, model_input: str, mas: bool) -> Stage:
    """The stage evaluating checkpoint input ``model_input`` (as MAS when ``mas``), rows labelled ``label``."""
    role = model_role(model_input)

    def plan(ctx: StageContext) -> int:
        return max(1, math.ceil(len(cached_input(ctx, "ingest_eval")) / ctx.recipe.eval.shard_size))

    def run_shard(ctx: StageContext, index: int) -> pd.DataFrame:
        from agentark_core.evaluate.run_eval import evaluate_questions
        from tasks.stages.debate import protocol_config

        shared = shared_evaluation(ctx, model_input, mas)
        if shared is not None:
            return ctx.store.read_shard(shared["stage"], shared["key"], index).assign(model=label)
        size = ctx.recipe.eval.shard_size
        frame = cached_input(ctx, "ingest_eval").iloc[index * size:(index + 1) * size]
        section = getattr(ctx.recipe, role)
        generator = generator_for(ctx, model_input, section.backend, section.options)
        protocol = ctx.recipe.debate.protocol if mas else "cot"
        config = protocol_config(ctx.recipe.debate, index) if mas else _single_config(ctx.recipe, index)
        benchmark = ctx.recipe.eval.data.dataset
        records, _ = evaluate_questions(questions_from_frame(frame), generator, protocol, config,
                                        model_name=label, benchmark=benchmark)
        return frame_of(records, COLUMNS)

    reads = ("eval.data.dataset", "eval.temperature", "eval.max_tokens", "eval.seed", "eval.shard_size",
             "eval.judge", "eval.judge_sample", f"{role}.backend", f"{role}.options") + (("debate",) if mas else ())
    return add(Stage(name=f"eval_{label}", version="1", schema="eval_records", reads=reads,
                     inputs=("ingest_eval", model_input), plan=plan, run_shard=run_shard, code=CODE,
                     summarize=lambda ctx: eval_metrics(ctx, model_input, mas), pool="gpu"))


def eval_identity(ctx: StageContext, model_input: str, mas: bool) -> str:
    """Hash of what determines the evaluation's records and scores, not the stage's name or label:
    the model's content, the values of the fields the stage reads (the role's ``backend`` and
    ``options`` under one neutral name), MAS or single, the questions, the stage version and code."""
    if "eval_identity" not in ctx.scratch:
        role = f"{model_role(model_input)}."
        config = {path.replace(role, "model.", 1) if path.startswith(role) else path: to_dict(ctx.config(path))
                  for path in ctx.stage.reads}
        payload = {"model": checkpoint_identity(ctx, model_input), "mas": mas, "config": config,
                   "questions": ctx.inputs["ingest_eval"].key, "version": ctx.stage.version,
                   "code": code_digest(stage_modules(ctx.stage))}
        text = json.dumps(payload, sort_keys=True, default=str)
        ctx.scratch["eval_identity"] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return ctx.scratch["eval_identity"]


def shared_evaluation(ctx: StageContext, model_input: str, mas: bool) -> dict | None:
    """The manifest of a committed evaluation (any eval stage's) with this one's identity and shard
    count, or None. Model stages compute one at a time per process, so in one pipeline the second
    of two identical evaluations finds the first committed."""
    if "shared" not in ctx.scratch:
        identity, shards = eval_identity(ctx, model_input, mas), ctx.stage.plan(ctx)
        stages = [name for name in STAGES.registered() if STAGES.get(name).schema == "eval_records"]
        ctx.scratch["shared"] = next(
            (m for name in stages for m in ctx.store.manifests(name)
             if (m.get("metrics") or {}).get("eval_identity") == identity and m.get("n_shards") == shards), None)
    return ctx.scratch["shared"]


def eval_metrics(ctx: StageContext, model_input: str, mas: bool) -> dict:
    """Accuracy and cost from the records; reasoning perplexity (single models with gold traces) and
    judge scores, reused from an identical committed evaluation when there is one."""
    records = pd.concat(list(ctx.output_frames()), ignore_index=True)
    statuses = records["status"].value_counts()
    out = {"accuracy": round(float(records["correct"].mean()), 4), "n": len(records),
           "accuracy_ci95": rate("accuracy", records["correct"])["accuracy_ci95"],
           "statuses": {k: int(v) for k, v in statuses.items()},
           # neither right nor wrong, counted as wrong in the accuracy: stated beside it
           **{f"{s}_fraction": round(statuses.get(s, 0) / len(records), 4) for s in ("ungradable", "truncated")},
           "completion_tokens_per_question": round(float(records["completion_tokens"].mean()), 2),
           "calls_per_question": round(float(records["calls"].mean()), 3),
           "eval_identity": eval_identity(ctx, model_input, mas)}
    for status in ("truncated", "ungradable"):  # counted as wrong: many of them make the accuracy meaningless
        if statuses.get(status, 0) > EVAL_WARN_FRACTION * len(records):
            out = merge_warnings(out, loud(ctx.stage.name, [
                f"{statuses[status]} of {len(records)} answers are {status} and count as wrong"
                + (": raise eval.max_tokens or turn thinking off" if status == "truncated" else "")]))
    shared = shared_evaluation(ctx, model_input, mas)
    if shared is not None:
        reused = {k: v for k, v in shared["metrics"].items() if k in ("reasoning_perplexity", "judge")}
        return out | reused | {"shared_from": f"{shared['stage']}/{shared['key']}"}
    questions = cached_input(ctx, "ingest_eval")
    gold = questions[questions["gold_reasoning"].str.len() > 0]
    location = model_location(ctx, model_input)
    if not mas and len(gold) and Path(location).is_dir():  # needs local weights (not an API model)
        model, tokenizer = _scoring_model(ctx, model_input, location)
        out["reasoning_perplexity"] = _perplexity(model, tokenizer, gold, ctx.recipe.eval.judge_sample)
    judge = ctx.recipe.eval.judge
    if judge.model:
        out["judge"] = _judge_scores(ctx, records, questions)
    return out


def _scoring_model(ctx: StageContext, model_input: str, location: str) -> tuple:
    """(model, tokenizer) to score perplexity with: the loaded model of the resident ``transformers``
    generator that evaluated it (no second copy in memory), else its folder (loaded by the metric)."""
    section = getattr(ctx.recipe, model_role(model_input))
    if section.backend != "transformers":
        return location, None
    generator = generator_for(ctx, model_input, section.backend, section.options)
    return generator.model, generator.tokenizer


def _perplexity(model, tokenizer, gold: pd.DataFrame, sample_size: int) -> float | None:
    from agentark_core.evaluate.perplexity import reasoning_perplexity
    from agentark_core.extract import student_prompt

    sample = gold.head(sample_size)
    result = reasoning_perplexity(
        model,
        [student_prompt(r) for r in sample.to_dict(orient="records")],
        list(sample["gold_reasoning"]), [f"Final Answer: {gt}" for gt in sample["gt"]], tokenizer=tokenizer,
    )
    return None if result.value is None else round(float(result.value), 4)


def _judge_scores(ctx: StageContext, records: pd.DataFrame, questions: pd.DataFrame) -> dict:
    from agentark_core.evaluate.judge import JudgeConfig, JudgeItem, judge_reasoning

    section = ctx.recipe.eval
    by_id = questions.set_index("question_id")
    items = [JudgeItem(item_id=r.question_id, question=by_id.loc[r.question_id, "query"], response=r.response)
             for r in records.itertuples(index=False)]
    generator = model_generator(section.judge.backend, section.judge.model, section.judge.options)
    result = judge_reasoning(items, generator, JudgeConfig(sample_size=section.judge_sample, seed=section.seed))
    return {"means": result.means, "n_judged": result.n_judged, "n_invalid": result.n_invalid}


# The reference rows; every route's ``eval_<route>`` comes with its registration (tasks/stages/routes.py).
EVAL_STAGES = {"teacher": eval_stage("teacher", "teacher", mas=False),
               "mas": eval_stage("mas", "teacher", mas=True),
               BASE: eval_stage(BASE, "student", mas=False)}
