"""Stage ``report``: gather the recipe's evaluations into ``eval_summary`` rows and a markdown/HTML
report with tables and plots (stored under the artifact's ``files/report``)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from tasks.runner import Stage, StageContext
from tasks.stages import add
from tasks.stages.common import frame_of, loud, questions_from_frame
from tasks.stages.routes import check_eval_routes, evaluable_routes

COLUMNS = ["benchmark", "model", "protocol", "metric", "value", "n"]
EXTRA_METRICS = ("reasoning_perplexity",)
HEADLINE_METRICS = ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "completion_tokens_per_question")
TRAINING_SCHEMAS = ("sft_examples", "prm_examples")
WALKED_SCHEMAS = ("eval_records", "checkpoints")  # followed back to the training sets behind a model


def report_inputs(recipe) -> tuple[str, ...]:
    """The evaluations the report gathers: the teacher's (``eval.teacher``) and ``eval.routes``'."""
    check_eval_routes(recipe)
    names = [f"eval_{route}" for route in recipe.eval.routes]
    if recipe.eval.teacher:
        names = ["eval_teacher", "eval_mas"] + names
    return ("ingest_eval", *names)


def eval_names(ctx: StageContext) -> list[str]:
    return [name for name in ctx.inputs if name.startswith("eval_")]  # in report_inputs' order


def summary_rows(ctx: StageContext) -> list[dict]:
    from agentark_core.evaluate.run_eval import summarize_records

    questions = ctx.input_frame("ingest_eval").set_index("question_id", drop=False)
    rows = []
    for name in eval_names(ctx):
        records = ctx.input_frame(name)
        aligned = questions_from_frame(questions.loc[records["question_id"]])
        rows += summarize_records(aligned, records.to_dict(orient="records"))
        metrics = ctx.store.read_manifest(name, ctx.inputs[name].key).get("metrics", {})
        labels = {k: records.iloc[0][k] for k in ("benchmark", "model", "protocol")}
        for metric in EXTRA_METRICS:
            if metrics.get(metric) is not None:
                rows.append({**labels, "metric": metric, "value": float(metrics[metric]), "n": len(records)})
        for dimension, value in ((metrics.get("judge") or {}).get("means") or {}).items():
            rows.append({**labels, "metric": f"judge_{dimension}", "value": float(value),
                         "n": int(metrics["judge"]["n_judged"])})
    return rows


def upstream(ctx: StageContext, name: str) -> Iterator[tuple[str, dict]]:
    """``(stage, manifest)`` of the input ``name`` and of every artifact behind it, followed through the
    manifests' inputs of evaluations and checkpoints (``WALKED_SCHEMAS``), each once."""
    todo, seen = [(name, ctx.inputs[name].key)], set()
    while todo:
        stage, key = todo.pop()
        manifest = ctx.store.read_manifest(stage, key)
        yield stage, manifest
        if manifest["schema"]["name"] in WALKED_SCHEMAS:
            todo += [(n, v["key"]) for n, v in manifest["inputs"].items() if (n, v["key"]) not in seen]
            seen.update(todo)


def training_sets(ctx: StageContext) -> pd.DataFrame:
    """Per evaluated model, every training set behind it (found through the manifests' inputs): its size
    and the warnings its stage raised (too small, identical to another route's set)."""
    rows = []
    for name in eval_names(ctx):
        for stage, manifest in upstream(ctx, name):
            if manifest["schema"]["name"] in TRAINING_SCHEMAS:
                warnings = (manifest.get("metrics") or {}).get("warnings") or []
                rows.append({"model": name.removeprefix("eval_"), "training_set": stage, "examples": manifest["rows"],
                             "warnings": " ".join(warnings)})
    return pd.DataFrame(rows, columns=["model", "training_set", "examples", "warnings"])


def prm_evaluations(ctx: StageContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The held-out evaluation of every PRM behind the evaluated models (``train_prm``'s ``prm_eval``):
    its step metrics, and best-of-N per N with ``beats_majority`` False flagging a PRM no better than a vote."""
    steps, best, seen = [], [], set()
    for name in eval_names(ctx):
        for stage, manifest in upstream(ctx, name):
            result = (manifest.get("metrics") or {}).get("prm_eval")
            if result is None or (stage, manifest["key"]) in seen:
                continue
            seen.add((stage, manifest["key"]))
            prm = f"{stage}/{manifest['key']}"
            steps.append({"prm": prm, "questions": result["n_questions"], **result["steps"]})
            best += [{"prm": prm, "N": int(n), "prm_pick": r["prm"], "random": r["random"], "majority": r["majority"],
                      "oracle": r["oracle"], "trials": r["trials"], "beats_majority": bool(r["prm_beats_majority"])}
                     for n, r in (result.get("best_of_n") or {}).items()]
    return pd.DataFrame(steps), pd.DataFrame(best)


def rl_runs(ctx: StageContext) -> dict[str, dict]:
    """``{route: {"curve", "check", "algorithm", "seed", "rewards", "runtime_s"}}`` of every evaluated route
    trained by RL (its own training stage's ``rl_curves``, ``reward_check``, optimiser, seed, reward weights and
    training time: PAD and its ablations), for the report's PAD section and its PPO vs GRPO table."""
    runs = {}
    for name in eval_names(ctx):
        route = name.removeprefix("eval_")
        for stage, manifest in upstream(ctx, name):
            metrics = manifest.get("metrics") or {}
            if stage == f"train_{route}" and "rl_curves" in metrics:
                runs[route] = {"curve": metrics["rl_curves"], "check": metrics.get("reward_check"),
                               "algorithm": metrics.get("algorithm"), "seed": metrics.get("seed"),
                               "rewards": metrics.get("rewards"), "runtime_s": metrics.get("train_runtime_s")}
                break
    return runs


def paired_gains(ctx: StageContext) -> pd.DataFrame:
    """MAS vs the single teacher and every route vs the base student on the same questions: the accuracy
    difference with its paired-bootstrap 95% interval (the report's headline intervals are unpaired)."""
    from agentark_core.evaluate.stats import paired_differences

    outcomes = {}
    for name in eval_names(ctx):
        records = ctx.input_frame(name)
        outcomes[name.removeprefix("eval_")] = dict(zip(records["question_id"], records["correct"].astype(float)))
    pairs = [("mas", "teacher")] + [(m, "base") for m in outcomes if m not in ("teacher", "mas", "base")]
    columns = ["model", "baseline", "difference", "low", "high", "n", "significant"]
    return pd.DataFrame(paired_differences(outcomes, pairs), columns=columns)


def run_shard(ctx: StageContext, index: int) -> pd.DataFrame:
    from agentark_core.evaluate.report import write_report

    frame = frame_of(summary_rows(ctx), COLUMNS)
    sets, paired = training_sets(ctx), paired_gains(ctx)
    prm_steps, prm_best = prm_evaluations(ctx)
    sections = {title: table for title, table in (("Paired differences (95% bootstrap over questions)", paired),
                                                  ("Training sets", sets),
                                                  ("PRM on held-out questions: steps", prm_steps),
                                                  ("PRM best-of-N (beats_majority False: no better than a vote)",
                                                   prm_best)) if len(table)}
    with tempfile.TemporaryDirectory(prefix="agentark-report-") as tmp:
        table = frame.assign(route=frame["model"], train_set=ctx.recipe.data.dataset)
        write_report(table, Path(tmp), title=f"AgentArk report: {ctx.recipe.name}",
                     route_order=evaluable_routes(), extra_sections=sections or None, rl_runs=rl_runs(ctx))
        ctx.store.put_dir(tmp, ctx.stage.name, ctx.key, "report")
    return frame


def headline(ctx: StageContext) -> dict:
    """Accuracy (with its n and 95% interval), tokens per question and training-set sizes of every evaluated
    model, for the manifest and the CLI; the training sets' warnings, loudly."""
    frame = pd.concat(list(ctx.output_frames()), ignore_index=True)
    wanted = frame[frame["metric"].isin(HEADLINE_METRICS)]
    out: dict = {}
    for row in wanted.itertuples(index=False):
        out.setdefault(row.model, {})[row.metric] = None if pd.isna(row.value) else round(float(row.value), 4)
        if row.metric == "accuracy":
            out[row.model]["n"] = int(row.n)
    out["report"] = ctx.store.uri(ctx.stage.name, ctx.key, "files/report/report.md")
    sets = training_sets(ctx)
    for row in sets.itertuples(index=False):
        out.setdefault(row.model, {}).setdefault("training_sets", {})[row.training_set] = row.examples
    warnings = [f"{r.model} was trained on {r.training_set}: {r.warnings}" for r in sets.itertuples() if r.warnings]
    _, prm_best = prm_evaluations(ctx)
    warnings += [f"{r.prm}: best-of-{r.N} {r.prm_pick:.3f} does not beat majority-of-{r.N} {r.majority:.3f}"
                 for r in prm_best.itertuples() if not r.beats_majority]
    return out | loud("report", warnings)


REPORT = add(Stage(name="report", version="1", schema="eval_summary", reads=("name", "data.dataset"),
                   inputs=report_inputs, plan=lambda ctx: 1, run_shard=run_shard,
                   code=("agentark_core.evaluate",), summarize=headline))
