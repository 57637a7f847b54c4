"""An evaluated model whose replies hit max_tokens: records say truncated, the stage summary says so loudly."""

from __future__ import annotations

import json

from agentark_core.llm.scripted import ScriptedGenerator
from agentark_core.recipe import load_recipe
from schemas import validate
from tasks.runner import run_in_process
from tasks.stages import pipeline_order
from tasks.store import ArtifactStore
from tests.data_files import gsm8k_answers, write_gsm8k


def cut_off(model: str, answers: dict[str, str], **_ignored) -> ScriptedGenerator:
    """Answers right, but the reply to every question after the first runs into max_tokens."""

    def reply(request, call_index: int):
        gt = next(a for q, a in answers.items() if q in request.messages[0]["content"])
        first = next(iter(answers.values()))
        return f"Final Answer: {gt}" if gt == first else (f"Final Answer: {gt}, let me check again by", "length")

    return ScriptedGenerator(reply)


def test_truncated_answers_are_wrong_and_said_loudly(tmp_path):
    data = write_gsm8k(tmp_path / "gsm8k.jsonl", with_reasoning=False)
    recipe = load_recipe(None, [
        f"store.root={tmp_path / 'store'}", "stages=[eval_teacher]",
        "teacher.model=cut", f"teacher.backend={__name__}:cut_off",
        f"teacher.options={json.dumps({'answers': gsm8k_answers()})}",
        f"eval.data={{dataset: gsm8k, source: {data}, split: test, limit: null}}",
    ])
    store = ArtifactStore(str(tmp_path / "store"))
    refs = run_in_process(pipeline_order(recipe, recipe.stages), recipe, store, progress=False)
    records = validate(store.read_frame("eval_teacher", refs["eval_teacher"].key), "eval_records")
    assert sorted(records["status"]) == ["correct", "truncated", "truncated", "truncated"]
    metrics = store.read_manifest("eval_teacher", refs["eval_teacher"].key)["metrics"]
    assert metrics["accuracy"] == 0.25 and metrics["n"] == 4 and metrics["statuses"] == {"truncated": 3, "correct": 1}
    assert metrics["truncated_fraction"] == 0.75 and metrics["ungradable_fraction"] == 0.0
    assert metrics["accuracy_ci95"][0] < 0.25 < metrics["accuracy_ci95"][1]
    (warning,) = metrics["warnings"]
    assert warning == "3 of 4 answers are truncated and count as wrong: raise eval.max_tokens or turn thinking off"
