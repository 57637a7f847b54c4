"""Stage ``report``: gather the recipe's evaluations into ``eval_summary`` rows and a markdown/HTML
report with tables and plots (stored under the artifact's ``files/report``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from tasks.runner import Stage, StageContext
from tasks.stages import add
from tasks.stages.common import frame_of, questions_from_frame
from tasks.stages.routes import check_eval_routes, evaluable_routes

COLUMNS = ["benchmark", "model", "protocol", "metric", "value", "n"]
EXTRA_METRICS = ("reasoning_perplexity",)


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


def run_shard(ctx: StageContext, index: int) -> pd.DataFrame:
    from agentark_core.evaluate.report import write_report

    frame = frame_of(summary_rows(ctx), COLUMNS)
    with tempfile.TemporaryDirectory(prefix="agentark-report-") as tmp:
        table = frame.assign(route=frame["model"], train_set=ctx.recipe.data.dataset)
        write_report(table, Path(tmp), title=f"AgentArk report: {ctx.recipe.name}",
                     route_order=evaluable_routes())
        ctx.store.put_dir(tmp, ctx.stage.name, ctx.key, "report")
    return frame


def headline(ctx: StageContext) -> dict:
    """Accuracy and tokens per question of every evaluated model, for the manifest and the CLI."""
    frame = pd.concat(list(ctx.output_frames()), ignore_index=True)
    wanted = frame[frame["metric"].isin(["accuracy", "completion_tokens_per_question"])]
    out: dict = {}
    for row in wanted.itertuples(index=False):
        out.setdefault(row.model, {})[row.metric] = None if pd.isna(row.value) else round(float(row.value), 4)
    out["report"] = ctx.store.uri(ctx.stage.name, ctx.key, "files/report/report.md")
    return out


REPORT = add(Stage(name="report", version="1", schema="eval_summary", reads=("name", "data.dataset"),
                   inputs=report_inputs, plan=lambda ctx: 1, run_shard=run_shard,
                   code=("agentark_core.evaluate",), summarize=headline))
