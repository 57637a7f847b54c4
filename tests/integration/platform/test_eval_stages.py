"""Evaluation stages with a scripted teacher and a scripted LLM judge: MAS vs single cost, judge scores
in the manifest and in the report's eval_summary."""

from __future__ import annotations

import json

from agentark_core.recipe import load_recipe
from schemas import validate
from tasks.runner import run_in_process
from tasks.stages import pipeline_order
from tasks.store import ArtifactStore
from tests.data_files import gsm8k_answers, write_gsm8k

SCORES = {"step_decomposition": 4, "intermediate_verification": 2, "error_localisation": 3, "reasoning_coherence": 5}


def test_teacher_single_vs_mas_with_judge(tmp_path):
    data = write_gsm8k(tmp_path / "gsm8k.jsonl", with_reasoning=False)
    recipe = load_recipe(None, [
        f"store.root={tmp_path / 'store'}", "stages=[report]",
        "teacher.model=oracle", "teacher.backend=tests.fake_backends:oracle",
        f"teacher.options={json.dumps({'answers': gsm8k_answers(), 'wrong_every': 2})}",
        "debate.n_agents=3", "debate.rounds=2", "debate.consensus_stop=false",
        f"eval.data={{dataset: gsm8k, source: {data}, split: test, limit: null}}", "eval.routes=[]",
        "eval.judge.model=judge", "eval.judge.backend=tests.fake_backends:judge",
        f"eval.judge.options={json.dumps({'scores': SCORES, 'invalid_every': 2})}",
    ])
    store = ArtifactStore(str(tmp_path / "store"))
    refs = run_in_process(pipeline_order(recipe, recipe.stages), recipe, store, progress=False)
    single = validate(store.read_frame("eval_teacher", refs["eval_teacher"].key), "eval_records")
    mas = validate(store.read_frame("eval_mas", refs["eval_mas"].key), "eval_records")
    assert (single["calls"] == 1).all() and (mas["calls"] == 3 * 2 + 1).all()  # 3 agents x 2 rounds + aggregator
    assert mas["completion_tokens"].sum() > single["completion_tokens"].sum()
    assert mas["correct"].all()  # the oracle corrects itself once peers' answers are shown
    judge = store.read_manifest("eval_teacher", refs["eval_teacher"].key)["metrics"]["judge"]
    assert judge["means"] == {k: float(v) for k, v in SCORES.items()} and judge["n_judged"] == 4
    summary = validate(store.read_frame("report", refs["report"].key), "eval_summary")
    rows = summary[(summary["model"] == "teacher") & summary["metric"].str.startswith("judge_")]
    assert dict(zip(rows["metric"], rows["value"])) == {f"judge_{k}": float(v) for k, v in SCORES.items()}
