"""Real Prefect runs (one session-scoped test server): pipeline, Cached reruns, artifacts, stage flows."""

from __future__ import annotations

import asyncio
import shutil

import pytest
import yaml

from tasks.store import ArtifactStore
from tests.data_files import write_gsm8k

pytestmark = pytest.mark.usefixtures("prefect_harness")

@pytest.fixture
def recipe_file(tmp_path):
    data = write_gsm8k(tmp_path / "gsm8k.jsonl")
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({
        "name": "flow-test",
        "stages": ["ingest"],
        "store": {"root": str(tmp_path / "store")},
        "data": {"dataset": "gsm8k", "source": str(data), "limit": None, "shard_size": 2},
    }))
    return path


def _task_states(name_prefix: str) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

    async def go():
        async with get_client() as client:
            runs = await client.read_task_runs(task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_=name_prefix)))
            return [r.state.name for r in sorted(runs, key=lambda r: r.start_time or r.expected_start_time)]

    return asyncio.run(go())


def _artifact_keys(key: str) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def go():
        async with get_client() as client:
            arts = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_=key)))
            return sorted({a.key for a in arts})

    return asyncio.run(go())


def test_pipeline_runs_then_reruns_cached(recipe_file, tmp_path):
    from flows.pipeline import pipeline

    refs = pipeline(recipe=str(recipe_file))
    ingest = refs["ingest"]
    assert ingest["rows"] == 4 and not ingest["reused"]
    store = ArtifactStore(str(tmp_path / "store"))
    frame = store.read_frame("ingest", ingest["key"])
    assert sorted(frame["gt"]) == ["1000", "30", "36", "7"]
    assert store.read_manifest("ingest", ingest["key"])["n_shards"] == 2

    again = pipeline(recipe=str(recipe_file))
    assert again["ingest"]["key"] == ingest["key"] and again["ingest"]["reused"]
    assert _task_states(f"ingest-{ingest['key']}") == ["Completed", "Cached"]
    assert _artifact_keys(f"%{ingest['key']}%") == [
        f"ingest-{ingest['key']}", f"ingest-{ingest['key']}-summary", f"ingest-{ingest['key']}-uri"]


def test_override_changes_key_and_lost_artifact_recomputes(recipe_file, tmp_path):
    from flows.pipeline import pipeline

    base = pipeline(recipe=str(recipe_file))["ingest"]
    limited = pipeline(recipe=str(recipe_file), overrides=["data.limit=2"])["ingest"]
    assert limited["key"] != base["key"] and limited["rows"] == 2
    shutil.rmtree(tmp_path / "store" / "ingest" / base["key"])
    redone = pipeline(recipe=str(recipe_file))["ingest"]
    assert redone["key"] == base["key"] and not redone["reused"]
    assert ArtifactStore(str(tmp_path / "store")).is_committed("ingest", base["key"])


def test_stage_flow_alone_and_unknown_stage(recipe_file):
    from flows.pipeline import pipeline
    from flows.stages import ingest

    ref = ingest(recipe=str(recipe_file))
    assert ref["rows"] == 4
    with pytest.raises(ValueError, match="nope"):
        pipeline(recipe=str(recipe_file), only=["nope"])


def test_debate_flow_with_a_tiny_real_model(tmp_path, tiny_model_path):
    """The debate stage through Prefect with the transformers backend on a saved tiny Qwen3."""
    from flows.pipeline import pipeline
    from flows.stages import STAGE_FLOWS
    from schemas import validate

    path = tmp_path / "debate.yaml"
    path.write_text(yaml.safe_dump({
        "name": "debate-flow", "stages": ["debate"], "store": {"root": str(tmp_path / "store")},
        "data": {"dataset": "toy", "limit": 4},
        "teacher": {"model": tiny_model_path, "options": {"show_progress": False, "device": "cpu"}},
        "debate": {"n_agents": 2, "rounds": 2, "max_tokens": 6, "shard_size": 2},
    }))
    refs = pipeline(recipe=str(path))
    store = ArtifactStore(str(tmp_path / "store"))
    turns = validate(store.read_frame("debate", refs["debate"]["key"]), "debate_turns")
    assert set(turns["role"]) == {"agent", "aggregator"} and turns["question_id"].nunique() == 4
    alone = STAGE_FLOWS["debate"](recipe=str(path), inputs={"ingest": refs["ingest"]["key"],
                                                            "teacher": refs["teacher"]["key"]})
    assert alone["key"] == refs["debate"]["key"] and alone["reused"]
