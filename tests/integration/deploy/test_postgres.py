"""The same deployment run against a Prefect server backed by PostgreSQL (started by the test)."""

from __future__ import annotations

import asyncio

from tasks.store import ArtifactStore
from tests.integration.deploy.conftest import (
    deployed,
    on_server,
    postgres_db,
    prefect_server,
    wait_final,
    worker,
    write_recipe,
)


def test_pipeline_deployment_on_a_postgres_backed_server(tmp_path):
    recipe = write_recipe(tmp_path / "work", ["ingest"])
    home = tmp_path / "prefect"
    with postgres_db() as url, prefect_server(home, postgres=url) as info:
        deployed(info, home, names=["pipeline/default"])
        api = info["api_url"]

        async def trigger(client):
            deployment = await client.read_deployment_by_name("pipeline/default")
            return await client.create_flow_run_from_deployment(deployment.id, parameters={"recipe": str(recipe)})

        with worker(api, home):
            run = wait_final(api, on_server(api, trigger).id)
        assert run.state.is_completed(), run.state
        flows, tasks = asyncio.run(run_names(url))  # the runs are rows of this PostgreSQL database
        assert f"pipeline-{recipe}" in flows
        assert any(name.startswith("ingest-") for name in tasks), tasks  # the stage's task in the pipeline
    assert ArtifactStore(str(tmp_path / "work" / "store")).manifests("ingest")[0]["rows"] == 4


async def run_names(url: str) -> tuple[set[str], set[str]]:
    """Names of the flow runs and of the task runs stored in the database."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        flows = {row["name"] for row in await connection.fetch("SELECT name FROM flow_run")}
        tasks = {row["name"] for row in await connection.fetch("SELECT name FROM task_run")}
        return flows, tasks
    finally:
        await connection.close()
