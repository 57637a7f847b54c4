"""The ``agentark`` command line: run recipes, browse artifacts.

    agentark run [RECIPE] [--set debate.n_agents=7] [--only debate]
    agentark demo
    agentark artifacts ls [--stage debate] [--recipe demo] [--since 2026-11-01]
    agentark artifacts show KEY [--rows 20]
    agentark artifacts rm KEY
    agentark store gc [--yes]
    agentark recipe show [RECIPE] [--set k=v]
    agentark plan RECIPE|GRID [--set k=v] [--gpu H100] [--json]

Bad input ends with one clear line and a non-zero exit code; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from agentark_core.config_loader import ConfigError, to_dict
from agentark_core.project_files import DEMO_RECIPE
from agentark_core.recipe import StoreSection, load_recipe, recipe_source
from flows.server import server_app
from tasks.store_io import StoreError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="AgentArk: distil multi-agent debate into one LLM.")
artifacts_app = typer.Typer(no_args_is_help=True, help="Browse committed artifacts.")
recipe_app = typer.Typer(no_args_is_help=True, help="Inspect recipes.")
store_app = typer.Typer(no_args_is_help=True, help="Maintain the artifact store.")
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(recipe_app, name="recipe")
app.add_typer(store_app, name="store")
app.add_typer(server_app, name="server")
console = Console()
err = Console(stderr=True)
STATE = {"debug": False}

# Expected failures: bad input, missing or corrupt artifacts, storage errors (tasks.store.StoreError
# is an OSError), lock timeouts. Each ends in one line and exit code 2.
USER_ERRORS = (ConfigError, LookupError, ValueError, OSError, TimeoutError)


# Prefect settings the CLI sets unless the environment already does, before anything imports
# Prefect. They concern the ephemeral server `agentark run` starts for itself (a server configured
# by PREFECT_API_URL keeps its own settings): usage telemetry off (on a cold start it logged a
# sqlite "database is locked" traceback, and offline "Failed to send telemetry" errors), and
# two minutes, not 20 s, for it to start (a cold start migrates a new database: over 20 s on a
# loaded 2-core machine).
PREFECT_DEFAULTS = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}


def set_prefect_defaults(environ=os.environ) -> None:
    """Set :data:`PREFECT_DEFAULTS` where ``environ`` has no value; with no ``PREFECT_API_URL`` also
    ``DO_NOT_TRACK=1``: Prefect's client then sends nothing (its ephemeral server's analytics are
    off), yet in a terminal it printed a first-run "collects anonymous usage data" notice."""
    for name, value in PREFECT_DEFAULTS.items():
        environ.setdefault(name, value)
    if "PREFECT_API_URL" not in environ:
        environ.setdefault("DO_NOT_TRACK", "1")


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs.")) -> None:
    STATE["debug"] = debug
    set_prefect_defaults()
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)
    # S3 clients log request headers at DEBUG, access key id included: never below WARNING.
    for talks_credentials in ("botocore", "aiobotocore", "s3fs", "boto3"):
        logging.getLogger(talks_credentials).setLevel(logging.WARNING)
    if not debug:
        for handler in logging.getLogger().handlers:
            handler.setFormatter(NoTracebackFormatter("%(levelname)s %(name)s: %(message)s"))


class NoTracebackFormatter(logging.Formatter):
    """Log lines without the tracebacks attached to them (Prefect logs a failed run's with it):
    the CLI reports an expected failure once, as its last line; ``--debug`` shows tracebacks."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def fail(exc: BaseException) -> None:
    """One line on stderr, exit code 2 (or re-raise with --debug)."""
    if STATE["debug"]:
        raise exc
    message = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError) and message.startswith(("'", '"')):
        message = message[1:-1]
    if isinstance(exc, OSError) and not isinstance(exc, StoreError) and exc.filename:
        message = f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@app.command()
def run(
    recipe: str | None = typer.Argument(None, help="Recipe YAML (default: the embedded demo)."),
    set_: list[str] = typer.Option([], "--set", help="Override a field: --set debate.n_agents=7"),
    only: list[str] = typer.Option([], "--only", help="Run only this stage (repeatable); upstreams must exist."),
    as_json: bool = typer.Option(False, "--json", help="Print the artifact refs as one JSON line."),
) -> dict:
    """Run a recipe's pipeline (reusing every unchanged stage)."""
    recipe = str(DEMO_RECIPE) if recipe is None else recipe
    try:
        from tasks.validate import validate_recipe

        loaded = load_recipe(recipe, set_)  # fail on bad input before any work starts
        validate_recipe(loaded, recipe_source(recipe, set_), only)
        refs = None if only else all_reused(loaded)
        if refs is None:
            from flows.pipeline import pipeline

            refs = pipeline(recipe=recipe, overrides=list(set_), only=list(only) or None)
    except USER_ERRORS as exc:
        fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(refs) + "\n")
        return refs
    table = Table(title=f"recipe {loaded.name}: artifacts")
    for col in ("stage", "key", "rows", "status", "uri"):
        table.add_column(col)
    for name, ref in refs.items():
        table.add_row(name, ref["key"], str(ref["rows"]), "reused" if ref["reused"] else "computed", ref["uri"])
    console.print(table)
    return refs


def all_reused(loaded) -> dict | None:
    """Refs of every stage when all are already committed and no Prefect server is configured.

    Then there is nothing to run, and starting Prefect's ephemeral server (10+ s) would only
    record Cached states nobody can see; with a server configured, runs always go through
    Prefect so the UI shows them.
    """
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        return None
    from tasks.runner import plan_keys
    from tasks.stages import pipeline_order
    from tasks.store import open_store

    store = open_store(loaded.store.resolved_root(), loaded.store.credentials_block)
    keys = plan_keys(pipeline_order(loaded, loaded.stages), loaded)
    if not all(store.is_committed(stage, key) for stage, key in keys.items()):
        return None
    refs = {}
    for stage, key in keys.items():
        manifest = store.read_manifest(stage, key)
        refs[stage] = {"stage": stage, "key": key, "uri": manifest["uri"], "schema": manifest["schema"]["name"],
                       "rows": manifest["rows"], "reused": True}
    err.print("every stage is already committed: nothing to run (Prefect not started)")
    return refs


@app.command()
def demo(set_: list[str] = typer.Option([], "--set", help="Override a demo field.")) -> None:
    """Run the embedded demo recipe end to end on this machine, then print the headline numbers."""
    refs = run(recipe=str(DEMO_RECIPE), set_=set_, only=[], as_json=False)
    if "report" in refs:
        print_headline(load_recipe(DEMO_RECIPE, set_), refs["report"]["key"])


def print_headline(loaded, key: str) -> None:
    """The report's headline: teacher single vs MAS, each route vs the base student, cost."""
    from tasks.store import open_store

    store = open_store(loaded.store.resolved_root(), loaded.store.credentials_block)
    metrics = store.read_manifest("report", key)["metrics"]
    table = Table(title="held-out accuracy and generated tokens per question")
    for col in ("model", "accuracy", "tokens/question"):
        table.add_column(col)
    for model, values in metrics.items():
        if isinstance(values, dict):
            table.add_row(model, str(values.get("accuracy")), str(values.get("completion_tokens_per_question")))
    console.print(table)
    local = store.local_dir("report", key, "report", Path.home() / ".cache" / "agentark" / "reports")
    console.print(f"report: {local}/report.md  (artifact {key}; `agentark artifacts show {key}`)")


def _store(root: str | None):
    from tasks.store import open_store

    return open_store(root or StoreSection().resolved_root())


@artifacts_app.command("ls")
def artifacts_ls(
    stage: str | None = typer.Option(None, help="Only this stage."),
    recipe: str | None = typer.Option(None, help="Only artifacts made by this recipe name."),
    since: str | None = typer.Option(None, help="Only artifacts created on/after this ISO date."),
    store: str | None = typer.Option(None, help="Store root URI (default: $AGENTARK_STORE or the data dir)."),
) -> None:
    """List committed artifacts, newest first."""
    try:
        manifests = _store(store).manifests(stage)
    except USER_ERRORS as exc:
        fail(exc)
    manifests = [m for m in manifests if (not recipe or m.get("recipe") == recipe)
                 and (not since or m.get("created_at", "") >= since)]
    table = Table(title=f"{len(manifests)} artifact(s)")
    for col in ("stage", "key", "rows", "schema", "recipe", "created"):
        table.add_column(col, no_wrap=col == "key", overflow="fold")
    for m in manifests:
        if m.get("status") == "corrupt":  # listed, not trusted: its manifest could not be read
            table.add_row(m["stage"], m["key"], "corrupt", m["path"], "", "", style="red")
            continue
        schema = m.get("schema") or {}
        table.add_row(m["stage"], m["key"], str(m.get("rows", "?")), f"{schema.get('name')} v{schema.get('version')}",
                      str(m.get("recipe", "")), str(m.get("created_at", ""))[:19])
    console.print(table)


@artifacts_app.command("show")
def artifacts_show(
    key: str = typer.Argument(..., help="Artifact key (or a unique prefix)."),
    rows: int = typer.Option(5, help="How many rows to preview."),
    store: str | None = typer.Option(None, help="Store root URI."),
) -> None:
    """Show an artifact's manifest and its first rows."""
    try:
        st = _store(store)
        manifest = st.find(key)
        frame = st.read_shard(manifest["stage"], manifest["key"], 0).head(rows) if manifest["n_shards"] else None
    except USER_ERRORS as exc:
        fail(exc)
    console.print_json(json.dumps(manifest, default=str))
    if frame is not None and len(frame):
        table = Table(title=f"first {len(frame)} of {manifest['rows']} rows")
        for col in frame.columns:
            table.add_column(str(col), overflow="fold", max_width=40)
        for record in frame.astype(str).itertuples(index=False):
            table.add_row(*[v[:200] for v in record])
        console.print(table)


@artifacts_app.command("rm")
def artifacts_rm(
    key: str = typer.Argument(..., help="Artifact key (or a unique prefix)."),
    store: str | None = typer.Option(None, help="Store root URI."),
) -> None:
    """Delete one artifact (corrupt or not); the next run that needs it recomputes it."""
    try:
        st = _store(store)
        stage, full_key = st.find_key(key)
        uri = st.uri(stage, full_key)
        st.remove_artifact(stage, full_key)
    except USER_ERRORS as exc:
        fail(exc)
    console.print(f"removed {stage}/{full_key} ({uri})")


@store_app.command("gc")
def store_gc(
    yes: bool = typer.Option(False, "--yes", help="Delete (default: only list what would be deleted)."),
    temp_age: float = typer.Option(3600.0, help="Temp files older than this many seconds are leftovers."),
    lock_ttl: float = typer.Option(300.0, help="Locks without a live holder for this many seconds are stale."),
    store: str | None = typer.Option(None, help="Store root URI."),
) -> None:
    """List (or with --yes delete) temp files of killed writes, stale locks and empty folders."""
    from tasks.store_gc import find_leftovers, remove_leftovers

    try:
        st = _store(store)
        leftovers = find_leftovers(st, temp_age_s=temp_age, lock_ttl_s=lock_ttl)
        if yes:
            remove_leftovers(st, leftovers)
    except USER_ERRORS as exc:
        fail(exc)
    table = Table(title=f"{len(leftovers)} leftover(s) under {st.root_uri}")
    for col in ("kind", "path", "why"):
        table.add_column(col, overflow="fold")
    for item in leftovers:
        table.add_row(item.kind, item.path, item.reason)
    console.print(table)
    console.print(f"removed {len(leftovers)}" if yes else "dry run: nothing deleted; rerun with --yes to delete")


@app.command()
def grid(
    spec: Path = typer.Argument(..., help="Grid spec YAML: grid: {base, axes, overrides, max_concurrency}."),
    out: Path | None = typer.Option(None, help="Folder for the combined report (default: the store)."),
) -> None:
    """Run a grid of recipes (cartesian product of axes); shared stages run once."""
    try:
        from flows.grid import grid as grid_flow
        from flows.grid import load_grid_spec

        loaded = load_grid_spec(spec)
        result = grid_flow(base_recipe=loaded["base"], axes=loaded["axes"], overrides=loaded["overrides"],
                           max_concurrency=loaded["max_concurrency"], out_dir=str(out) if out else None)
    except USER_ERRORS as exc:
        fail(exc)
    console.print(f"{len(result['cells'])} cell(s), {result['failed']} failed; report: {result['report']}")
    if result["failed"]:
        raise typer.Exit(1)


@app.command()
def plan(
    target: Annotated[str, typer.Argument(help="Recipe YAML or grid spec YAML.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a field (every cell of a grid).")] = None,
    gpu: Annotated[str, typer.Option(help="GPU kind the estimate is for: H100 | H200.")] = "H100",
    fill: Annotated[float, typer.Option(help="Mean reply length / max_tokens (an assumption).")] = 0.5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as one JSON document.")] = False,
) -> None:
    """Validate a recipe or grid and print its stage DAG, what is committed, and the estimated bill."""
    try:
        from agentark_core.plan.workload import Assumptions
        from flows.plan import plan_file, render_plan

        if not 0 < fill <= 1:
            raise ValueError(f"--fill must be in (0, 1], got {fill}")
        result = plan_file(target, list(set_ or []), Assumptions(fill=fill), gpu)
    except USER_ERRORS as exc:
        fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        render_plan(result, console)


@app.command()
def report(
    key: str = typer.Argument(..., help="Key (or prefix) of a report artifact."),
    out: Path = typer.Option(Path("agentark-report"), help="Folder to write report.md/.html and images into."),
    store: str | None = typer.Option(None, help="Store root URI."),
) -> None:
    """Write a stored report (markdown, HTML, plots) to a local folder."""
    try:
        st = _store(store)
        manifest = st.find(key)
        if manifest["stage"] != "report":
            raise LookupError(f"artifact {manifest['key']} is a {manifest['stage']!r} artifact, not a report")
        out.mkdir(parents=True, exist_ok=True)
        st.fs.get(st.path("report", manifest["key"], "files/report") + "/", str(out) + "/", recursive=True)
    except USER_ERRORS as exc:
        fail(exc)
    console.print(f"wrote {out / 'report.md'} and {out / 'report.html'}")


@recipe_app.command("show")
def recipe_show(
    recipe: str | None = typer.Argument(None, help="Recipe YAML (default: the embedded demo)."),
    set_: list[str] = typer.Option([], "--set", help="Override a field."),
) -> None:
    """Print the fully resolved recipe (defaults + file + overrides)."""
    try:
        loaded = load_recipe(DEMO_RECIPE if recipe is None else recipe, set_)
    except USER_ERRORS as exc:
        fail(exc)
    import yaml

    sys.stdout.write(yaml.safe_dump(to_dict(loaded), sort_keys=False))


if __name__ == "__main__":
    app()
