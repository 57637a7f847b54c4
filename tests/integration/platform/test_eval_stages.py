"""Evaluation stages with a scripted teacher and a scripted LLM judge: MAS vs single cost, judge scores
in the manifest and in the report's eval_summary; one model evaluated once whatever the stage."""

from __future__ import annotations

import json

from agentark_core.recipe import load_recipe
from schemas import validate
from tasks.runner import run_in_process
from tasks.stages import pipeline_order
from tasks.store import ArtifactStore
from tests.data_files import gsm8k_answers, write_gsm8k
from tests.fake_backends import GENERATED

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


def test_the_student_that_is_the_teacher_is_evaluated_once(tmp_path):
    """Same model, backend and options as student and teacher: eval_base and eval_teacher are one
    evaluation (the model answers each question once), the second stage copies the first's rows
    under its own label and reuses its judge scores."""
    data = write_gsm8k(tmp_path / "gsm8k.jsonl", with_reasoning=False)
    model = {"model": "oracle", "backend": "tests.fake_backends:counted",
             "options": {"answers": gsm8k_answers(), "wrong_every": 2}}
    recipe = load_recipe(None, [
        f"store.root={tmp_path / 'store'}", "stages=[eval_teacher, eval_base]",
        f"teacher={json.dumps(model)}", f"student={json.dumps(model)}",
        f"eval.data={{dataset: gsm8k, source: {data}, split: test, limit: null}}",
        "eval.judge.model=judge", "eval.judge.backend=tests.fake_backends:judge",
        f"eval.judge.options={json.dumps({'scores': SCORES})}",
    ])
    store = ArtifactStore(str(tmp_path / "store"))
    GENERATED.clear()
    refs = run_in_process(pipeline_order(recipe, recipe.stages), recipe, store, progress=False)
    assert GENERATED == [4]  # four questions, answered once
    records = {s: validate(store.read_frame(s, refs[s].key), "eval_records") for s in ("eval_teacher", "eval_base")}
    assert set(records["eval_teacher"]["model"]) == {"teacher"} and set(records["eval_base"]["model"]) == {"base"}
    columns = [c for c in records["eval_base"].columns if c != "model"]
    assert records["eval_base"][columns].equals(records["eval_teacher"][columns])
    metrics = {s: store.read_manifest(s, refs[s].key)["metrics"] for s in records}
    assert metrics["eval_base"]["eval_identity"] == metrics["eval_teacher"]["eval_identity"]
    [(copy, source)] = [(s, m["shared_from"]) for s, m in metrics.items() if "shared_from" in m]
    first = "eval_teacher" if copy == "eval_base" else "eval_base"
    assert source == f"{first}/{refs[first].key}"
    assert metrics[copy]["judge"] == metrics[first]["judge"] and metrics[copy]["judge"]["n_judged"] == 4
    # another backend option makes it another evaluation
    other = load_recipe(None, [f"store.root={tmp_path / 'store'}", "stages=[eval_base]",
                               f"student={json.dumps({**model, 'options': {**model['options'], 'wrong_every': 3}})}",
                               f"teacher={json.dumps(model)}",
                               f"eval.data={{dataset: gsm8k, source: {data}, split: test, limit: null}}"])
    GENERATED.clear()
    again = run_in_process(pipeline_order(other, other.stages), other, store, progress=False)
    assert GENERATED == [4] and "shared_from" not in store.read_manifest("eval_base", again["eval_base"].key)["metrics"]
