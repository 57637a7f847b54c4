"""The pipeline as a Prefect task graph (real Prefect): independent stages overlap up to
``orchestration.max_concurrency``, a failed stage stops only its downstream stages, and a computing
stage shows its shards as a Prefect progress artifact."""

from __future__ import annotations

import asyncio
import itertools

import pytest
import yaml

from tasks.store import ArtifactStore
from tests.data_files import gsm8k_answers, write_gsm8k

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _recipe(tmp_path, name: str, eval_source: str, concurrency: int) -> str:
    """Oracle teacher: ingest -> debate -> label, and ingest_eval -> eval_teacher / eval_mas (independent)."""
    data = write_gsm8k(tmp_path / "gsm8k.jsonl", with_reasoning=False)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name,
        "stages": ["label", "eval_teacher", "eval_mas"],
        "store": {"root": str(tmp_path / "store")},
        "data": {"dataset": "gsm8k", "source": str(data), "limit": None},
        "teacher": {"model": "oracle", "backend": "tests.fake_backends:oracle",
                    "options": {"answers": gsm8k_answers(), "wrong_every": 2}},
        "debate": {"n_agents": 2, "rounds": 2, "consensus_stop": False},
        "eval": {"data": {"dataset": "gsm8k", "source": eval_source or str(data), "split": "test", "limit": None},
                 "routes": [], "max_tokens": 32, "shard_size": 1},
        "orchestration": {"max_concurrency": concurrency},
    }))
    return str(path)


def _task_runs(flow_run_id) -> dict[str, tuple]:
    """``{stage name: (start, end)}`` of the stage task runs of one flow run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def go():
        async with get_client() as client:
            runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            return {r.name.rsplit("-", 1)[0]: (r.start_time, r.end_time) for r in runs}

    return asyncio.run(go())


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@pytest.mark.parametrize("concurrency", [1, 2])
def test_independent_stages_overlap_only_when_allowed(tmp_path, concurrency):
    from flows.pipeline import pipeline

    recipe = _recipe(tmp_path, f"conc{concurrency}", "", concurrency)
    state = pipeline(recipe=recipe, return_state=True)
    refs = state.result()
    assert {"ingest", "debate", "label", "ingest_eval", "teacher", "eval_teacher", "eval_mas"} <= set(refs)
    runs = _task_runs(state.state_details.flow_run_id)
    overlapping = _overlap(runs["eval_teacher"], runs["eval_mas"]) or _overlap(runs["debate"], runs["ingest_eval"])
    assert overlapping == (concurrency > 1), runs
    # a dependency is never overlapped: the debate starts after ingest and the teacher ended
    assert runs["debate"][0] >= max(runs["ingest"][1], runs["teacher"][1])
    # model stages compute one at a time (shared device, resident generator, global RNG)
    store = ArtifactStore(str(tmp_path / "store"))
    windows = sorted(_compute_window(store, name, refs[name]["key"]) for name in ("debate", "eval_teacher", "eval_mas"))
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(windows)), windows


def _compute_window(store: ArtifactStore, stage: str, key: str) -> tuple[str, str]:
    timings = store.read_manifest(stage, key)["timings"]
    return timings["started_at"], timings["finished_at"]


def test_failed_stage_stops_only_its_downstream(tmp_path):
    from flows.pipeline import pipeline

    recipe = _recipe(tmp_path, "broken-eval", str(tmp_path / "missing.jsonl"), 2)
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        pipeline(recipe=recipe)
    store = ArtifactStore(str(tmp_path / "store"))
    committed = {m["stage"] for m in store.manifests()}
    assert {"ingest", "teacher", "debate", "label"} <= committed  # the independent branch finished
    assert not committed & {"ingest_eval", "eval_teacher", "eval_mas"}


def test_computing_stage_shows_shard_progress(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterType

    from flows.pipeline import pipeline

    recipe = _recipe(tmp_path, "progress", "", 2)
    refs = pipeline(recipe=recipe, only=None)
    n_shards = ArtifactStore(str(tmp_path / "store")).read_manifest("eval_mas", refs["eval_mas"]["key"])["n_shards"]
    assert n_shards == 4

    async def go():
        async with get_client() as client:
            arts = await client.read_artifacts(artifact_filter=ArtifactFilter(type=ArtifactFilterType(any_=["progress"])))
            return [a for a in arts if a.description and refs["eval_mas"]["key"] in a.description]

    (artifact,) = asyncio.run(go())
    assert artifact.data == 100.0 and "of 4" in artifact.description
