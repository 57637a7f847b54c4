"""Every recipe and grid in recipes/ is loaded, validated and planned (no model loaded), the paper's
recipes state the paper's settings, and the plan sees what the store already holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentark_core.recipe import load_recipe, recipe_source
from flows.cli import app
from flows.grid import load_grid_spec
from flows.plan import is_grid_spec, plan_grid
from tasks.plan import plan_recipe

RECIPES = Path(__file__).resolve().parents[3] / "recipes"
FILES = sorted(RECIPES.rglob("*.yaml"))
RECIPE_FILES = [p for p in FILES if not is_grid_spec(p)]
GRID_FILES = [p for p in FILES if is_grid_spec(p)]
PAPER = RECIPES / "paper"
FRAGMENTS = {"base.yaml", "teacher.yaml"}  # shared parts: valid, but name no teacher / student
TEACHERS = {"qwen3_32b": "Qwen/Qwen3-32B", "gemma3_27b": "google/gemma-3-27b-it"}
STUDENTS = {"qwen3-8b": "Qwen/Qwen3-8B", "qwen3-1.7b": "Qwen/Qwen3-1.7B", "qwen3-0.6b": "Qwen/Qwen3-0.6B",
            "llama3-8b": "meta-llama/Meta-Llama-3-8B-Instruct", "gemma-7b": "google/gemma-7b-it"}
TRAIN_SETS = ("gsm8k", "math", "metamathqa", "medmcqa")
GRID_CELLS = {"main_qwen3-32b.yaml": 140, "main_gemma3-27b.yaml": 140, "agents.yaml": 3,
              "data_scaling.yaml": 5, "ppo_vs_grpo.yaml": 2, "prm_size.yaml": 3}


def _name(path: Path) -> str:
    return str(path.relative_to(RECIPES))


@pytest.mark.parametrize("path", RECIPE_FILES, ids=_name)
def test_every_recipe_validates_and_plans(path):
    plan = plan_recipe(load_recipe(path), recipe_source(path))
    assert plan["stages"] and plan["stages"][-1]["level"] == max(r["level"] for r in plan["stages"])
    if path.parent.parent == PAPER and path.name not in FRAGMENTS:  # a whole paper experiment
        assert plan["totals"]["not_estimated"] == []
        assert not [note for row in plan["stages"] for note in row["notes"] if "max_model_len" in note]
        for row in plan["stages"]:
            if row["work"] in ("generate", "train"):
                assert row["gpu_hours"] > 0 and row["peak_gib_per_gpu"] > 0, row["stage"]
                assert row["generated_tokens"] + row["trained_tokens"] > 0, row["stage"]


def test_the_paper_matrix_exists_with_the_papers_settings():
    for teacher, teacher_model in TEACHERS.items():
        for student, student_model in STUDENTS.items():
            for train_set in TRAIN_SETS:
                recipe = load_recipe(PAPER / teacher / f"{student}_{train_set}.yaml")
                assert (recipe.teacher.model, recipe.student.model, recipe.data.dataset) == \
                    (teacher_model, student_model, train_set)
                assert recipe.teacher.backend == "vllm" and recipe.teacher.options["tensor_parallel_size"] >= 2
                debate = recipe.debate
                assert (debate.protocol, debate.n_agents, debate.rounds, debate.consensus_stop) == \
                    ("debate", 5, 3, True)
                assert 0.5 <= debate.temperature <= 0.7 and debate.max_tokens == 4096
                grpo = recipe.train.grpo
                assert grpo["num_generations"] == 8 and 0.001 <= grpo["beta"] <= 0.01
                assert grpo["learning_rate"] == 5e-7
                for section in (recipe.teacher, recipe.student):  # Qwen3 thinking mode set explicitly
                    if section.model.startswith("Qwen/Qwen3"):
                        assert section.options["chat_template_kwargs"] == {"enable_thinking": False}
                if student.startswith("qwen3"):
                    assert grpo["chat_template_kwargs"] == {"enable_thinking": False}


@pytest.mark.parametrize("path", GRID_FILES, ids=_name)
def test_every_grid_expands_validates_and_plans(path):
    plan = plan_grid(load_grid_spec(path))
    assert len(plan["cells"]) == GRID_CELLS[path.name]
    assert plan["totals"]["not_estimated"] == [] and plan["totals"]["gpu_hours"] > 0
    every_row = sum(len(cell["stages"]) for cell in plan["cells"])
    assert plan["totals"]["distinct_stages"] < every_row  # cells share stages (same keys): counted once
    assert sum(cell["new"]["gpu_hours"] for cell in plan["cells"]) == pytest.approx(plan["totals"]["gpu_hours"],
                                                                                   abs=0.01 * len(plan["cells"]))


def test_grid_cells_share_the_debate_where_its_inputs_agree():
    plan = plan_grid(load_grid_spec(PAPER / "grids" / "ppo_vs_grpo.yaml"))
    keys = [{row["stage"]: row["key"] for row in cell["stages"]} for cell in plan["cells"]]
    assert keys[0]["debate"] == keys[1]["debate"] and keys[0]["train_prm"] == keys[1]["train_prm"]
    assert keys[0]["train_pad"] != keys[1]["train_pad"]
    assert plan["cells"][1]["new"]["to_run"] < plan["cells"][0]["new"]["to_run"]


def test_more_agents_cost_more():
    plan = plan_grid(load_grid_spec(PAPER / "grids" / "agents.yaml"))
    debate = [next(r for r in cell["stages"] if r["stage"] == "debate") for cell in plan["cells"]]
    # Q x (n x 3 rounds + aggregator) replies: 5 -> 10 agents is 16 -> 31 replies per question
    assert debate[0]["generated_tokens"] * 31 == debate[1]["generated_tokens"] * 16
    assert debate[0]["gpu_hours"] < debate[1]["gpu_hours"] < debate[2]["gpu_hours"]
    # 20 replies of up to 4096 tokens outgrow the grid's 40,960-token engine context; 5 fit in 32,768
    assert not any("max_model_len" in note for note in debate[0]["notes"])
    assert any("over the engine's max_model_len 40,960" in note for note in debate[2]["notes"])


def test_the_plan_sees_committed_artifacts_and_creates_no_store(tmp_path):
    from tasks.runner import run_stage
    from tasks.stages import STAGES
    from tasks.store import open_store

    root = tmp_path / "store"
    recipe = load_recipe(RECIPES / "demo.yaml", [f"store.root={root}", "data.limit=40"])
    before = plan_recipe(recipe, "demo")
    assert not root.exists() and not any(row["committed"] for row in before["stages"])
    ref = run_stage(STAGES.get("ingest"), recipe, open_store(str(root)), progress=False)
    after = plan_recipe(recipe, "demo")
    ingest = next(row for row in after["stages"] if row["stage"] == "ingest")
    assert ingest["committed"] and ingest["key"] == ref.key
    assert after["totals"]["to_run"] == before["totals"]["to_run"] - 1


def test_cli_plan_prints_json_and_fails_in_one_line(tmp_path):
    recipe = PAPER / "qwen3_32b" / "qwen3-0.6b_gsm8k.yaml"
    result = CliRunner().invoke(app, ["plan", str(recipe), "--json", "--set", "data.limit=100", "--gpu", "H200"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    debate = next(row for row in plan["stages"] if row["stage"] == "debate")
    assert plan["gpu"] == "H200" and debate["gpus"] == 2 and "100 questions" in " ".join(debate["notes"])
    result = CliRunner().invoke(app, ["plan", str(recipe), "--set", "debate.n_agents=1"])
    assert result.exit_code == 2 and "n_agents must be >= 2" in result.output
    result = CliRunner().invoke(app, ["plan", str(recipe), "--gpu", "A100"])
    assert result.exit_code == 2 and "unknown GPU 'A100'" in result.output


def test_committed_rows_and_a_measured_reply_length_replace_the_guesses():
    from agentark_core.plan.costs import GPUS
    from agentark_core.plan.workload import Assumptions, Counts
    from tasks.plan import estimate_stage, measured_reply_tokens
    from tasks.stages import STAGES

    assert measured_reply_tokens({"metrics": {"completion_tokens_per_question": 4800.0,
                                              "calls_per_question": 16.0}}) == 300.0
    assert measured_reply_tokens({"metrics": {}}) is None and measured_reply_tokens(None) is None
    recipe = load_recipe(PAPER / "qwen3_32b" / "qwen3-0.6b_gsm8k.yaml")
    rsft = STAGES.get("train_rsft")
    guessed = estimate_stage(rsft, recipe, Counts(), Assumptions(), GPUS["H100"])
    # 7,473 questions x 5 agents x 1.2 trajectories x 2 epochs x (150 prompt + 0.5 x 4096 reply) tokens
    assert guessed.trained_tokens == int(7473 * 5 * 1.2) * 2 * (150 + 2048)
    known = estimate_stage(rsft, recipe, Counts({"sft_rsft": 1000}, debate_reply_tokens=300.0), Assumptions(),
                           GPUS["H100"])
    assert known.trained_tokens == 1000 * 2 * (150 + 300)
