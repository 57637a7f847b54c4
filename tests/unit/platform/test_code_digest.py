"""Code digests are computed from the import graph: editing any project module a stage imports,
directly, through another module or inside a function, changes the stage's key."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.code_digest import PROJECT_PACKAGES, PROJECT_ROOT, code_digest, direct_imports, import_closure
from tasks.runner import stage_modules
from tasks.stages import STAGES


def copy_project(dest: Path) -> Path:
    """The project's python packages copied under ``dest`` (nothing else: no tests, no .venv)."""
    for package in PROJECT_PACKAGES:
        shutil.copytree(PROJECT_ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def append_comment(root: Path, module: str) -> None:
    path = root.joinpath(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + "\n# an edit that changes no behaviour but the bytes\n")


def test_debate_closure_has_the_modules_the_hand_list_missed():
    closure = import_closure("tasks.stages.debate")
    # imported at module level by debate, through common.py, and inside common.generator_for
    assert {"tasks.stages.common", "agentark_core.data.question", "tasks.stages.checkpoints"} <= closure
    # lazy imports inside functions: run_shard imports agentark_core.mas, whose package registers mad
    assert {"agentark_core.mas", "agentark_core.mas.mad", "agentark_core.llm.factory"} <= closure
    assert "agentark_core.mas.debate" in closure and "tasks.runner" in closure
    # sibling stages reach debate only through the stage table, which is not followed
    assert "tasks.stages" in closure
    assert not {"tasks.stages.train", "tasks.stages.report", "tasks.stages.ingest"} & closure


def test_resolving_a_model_does_not_depend_on_training_code():
    # the teacher stage only names a model: editing SFT code must not invalidate (and rerun) the debate
    closure = set().union(*(import_closure(m) for m in stage_modules(STAGES.get("teacher"))))
    assert "tasks.stages.toy" not in closure and "agentark_core.train.sft" not in closure


def test_a_stage_importing_another_stage_module_follows_it():
    assert "tasks.stages.debate" in import_closure("tasks.stages.evaluate")  # protocol_config


def test_function_local_imports_are_found(tmp_path):
    package = tmp_path / "tasks"
    package.mkdir()
    (package / "alpha.py").write_text(
        "import os\n\n\ndef f():\n    if os.sep:\n        try:\n            from tasks import beta\n"
        "        except ImportError:\n            from .gamma import g\n    return beta\n")
    for name in ("beta", "gamma"):
        (package / f"{name}.py").write_text("X = 1\n")
    assert direct_imports("tasks.alpha", tmp_path) == {"tasks.beta", "tasks.gamma"}
    assert import_closure("tasks.alpha", tmp_path) == {"tasks.alpha", "tasks.beta", "tasks.gamma"}


def test_digest_follows_bytes_not_location(tmp_path):
    modules = stage_modules(STAGES.get("debate"))
    same, edited = copy_project(tmp_path / "same"), copy_project(tmp_path / "edited")
    append_comment(edited, "agentark_core.data.question")  # debate imports it only indirectly
    assert code_digest(modules, same) == code_digest(modules, PROJECT_ROOT)
    assert code_digest(modules, edited) != code_digest(modules, PROJECT_ROOT)


def test_unknown_module_fails_naming_it():
    with pytest.raises(ModuleNotFoundError, match="agentark_core.no_such_module"):
        import_closure("agentark_core.no_such_module")


PLAN_KEYS = """
import json
from agentark_core.recipe import load_recipe
from tasks.runner import plan_keys
from tasks.stages import pipeline_order
recipe = load_recipe({recipe!r})
print(json.dumps(plan_keys(pipeline_order(recipe, recipe.stages), recipe)))
"""


def test_editing_a_module_debate_imports_only_inside_a_function_changes_its_key(tmp_path):
    """End to end: the demo recipe's keys planned by a process importing an edited copy."""
    from agentark_core.recipe import load_recipe
    from tasks.runner import plan_keys
    from tasks.stages import pipeline_order

    recipe_path = str(PROJECT_ROOT / "recipes" / "demo.yaml")
    recipe = load_recipe(recipe_path)
    before = plan_keys(pipeline_order(recipe, recipe.stages), recipe)
    copy = copy_project(tmp_path)
    append_comment(copy, "tasks.stages.checkpoints")  # debate -> common.generator_for -> checkpoints
    env = {**os.environ, "PYTHONPATH": str(copy)}
    out = subprocess.run([sys.executable, "-c", PLAN_KEYS.format(recipe=recipe_path)], cwd=copy, env=env,
                         capture_output=True, text=True, check=True)
    after = json.loads(out.stdout.strip().splitlines()[-1])
    assert after["ingest"] == before["ingest"]  # ingest does not import checkpoints
    assert after["debate"] != before["debate"]
    assert after["label"] != before["label"]  # downstream: its input key changed
