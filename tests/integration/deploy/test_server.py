"""A real Prefect server (SQLite) with the work pools and every deployment of prefect.yaml:
a process worker runs the pipeline deployment, the nightly schedule creates upcoming runs."""

from __future__ import annotations

import pytest

from tasks.store import ArtifactStore
from tests.integration.deploy.conftest import (
    deployed,
    on_server,
    prefect_server,
    wait_final,
    worker,
    write_recipe,
)

GPU_STAGES = {"debate", "label", "toy_models"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-sqlite")
    with prefect_server(home) as info:
        yield {**deployed(info, home), "home": home}


def test_pipeline_deployment_runs_on_a_process_worker(server, tmp_path):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    recipe = write_recipe(tmp_path, ["ingest"])
    api = server["api_url"]

    async def trigger(client):
        deployment = await client.read_deployment_by_name("pipeline/default")
        return await client.create_flow_run_from_deployment(deployment.id, parameters={"recipe": str(recipe)})

    with worker(api, server["home"]):
        run = wait_final(api, on_server(api, trigger).id)
    assert run.state.is_completed(), run.state
    store = ArtifactStore(str(tmp_path / "store"))
    [manifest] = store.manifests("ingest")
    key = manifest["key"]
    assert sorted(store.read_frame("ingest", key)["gt"]) == ["1000", "30", "36", "7"]
    arts = on_server(api, lambda c: c.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_=f"%{key}%"))))
    assert sorted(a.key for a in arts) == [f"ingest-{key}", f"ingest-{key}-summary", f"ingest-{key}-uri"]
    assert f"{manifest['rows']}" in next(a.data for a in arts if a.key == f"ingest-{key}-summary")

def test_every_flow_is_deployed_on_its_pool(server):
    from tasks.stages import STAGES

    deployments = on_server(server["api_url"], lambda c: c.read_deployments())
    flows = {f.id: f.name for f in on_server(server["api_url"], lambda c: c.read_flows())}
    pools = {f"{flows[d.flow_id]}/{d.name}": d.work_pool_name for d in deployments}
    for stage in STAGES.names():
        gpu = stage in GPU_STAGES or stage.startswith(("train_", "eval_"))
        assert pools[f"{stage.replace('_', '-')}/default"] == ("agentark-gpu" if gpu else "agentark-cpu"), stage
    assert pools["pipeline/default"] == "agentark-cpu" and pools["pipeline/gpu"] == "agentark-gpu"
    assert pools["debate-shard-group/default"] == "agentark-gpu" and pools["grid/default"] == "agentark-cpu"
    pool = on_server(server["api_url"], lambda c: c.read_work_pool("agentark-gpu"))
    assert pool.concurrency_limit == 1
    assert pool.base_job_template["variables"]["properties"]["cuda_visible_devices"]["default"] == "0"


def test_nightly_schedule_creates_upcoming_runs_and_can_be_paused(server):
    import time

    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    api = server["api_url"]
    deployment = on_server(api, lambda c: c.read_deployment_by_name("pipeline/nightly-eval"))
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == "0 3 * * *" and schedule.active

    def scheduled():
        runs = on_server(api, lambda c: c.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))))
        return [r for r in runs if r.state and r.state.is_scheduled()]

    deadline = time.monotonic() + 60
    while not (runs := scheduled()):
        assert time.monotonic() < deadline, "the scheduler created no runs for the nightly deployment"
        time.sleep(1)
    assert all(r.expected_start_time.hour == 3 and r.expected_start_time.minute == 0 for r in runs)
    assert all(r.parameters["recipe"] == "recipes/demo.yaml" for r in runs)

    on_server(api, lambda c: c.update_deployment_schedule(deployment.id, schedule.id, active=False))
    paused = on_server(api, lambda c: c.read_deployment(deployment.id))
    assert not paused.schedules[0].active
    deadline = time.monotonic() + 30
    while scheduled():
        assert time.monotonic() < deadline, "scheduled runs remain after the schedule was paused"
        time.sleep(1)
