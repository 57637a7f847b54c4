"""The toy world's CPU plan (agentark_core/plan/cpu.py, tasks/plan_cpu.py): shapes against the built models,
the arithmetic by hand on round rates, and the demo's plan priced with no stage left out."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from agentark_core.plan import cpu
from agentark_core.plan.shapes import model_shape
from agentark_core.plan.workload import Counts
from agentark_core.project_files import DEMO_RECIPE
from agentark_core.recipe import load_recipe, recipe_source
from agentark_core.toy.bootstrap import ModelSpec
from flows.cli import app
from tasks.plan import plan_recipe
from tasks.plan_cpu import cpu_estimate, toy_specs

# Round rates for estimates computed by hand below.
ROUND_RATES = {"CPU_TRAIN_FLOPS": 1e9, "CPU_TRAIN_STEP_S": 0.1, "CPU_TRAINER_START_S": 5.0,
               "CPU_DECODE_TOKEN_S": 1e-3, "CPU_GEN_FLOPS": 1e8, "CPU_GRPO_STEP_S": 0.5,
               "CPU_MODEL_STAGE_S": 2.0, "CPU_STAGE_S": 0.5, "TOY_REPLY_TOKENS": 20.0, "TOY_AGENT_ACCURACY": 0.5}
# A toy shape with round numbers: hidden 100, 1 layer, 4 heads (KV 2, head dim 25), MLP 400, vocab 1000:
# q,o 2·100·100 = 20,000; k,v 2·100·50 = 10,000; MLP 3·100·400 = 120,000; tied embedding 100,000 -> 250,000
ROUND = ModelSpec(hidden=100, layers=1, heads=4)


@pytest.fixture
def round_rates(monkeypatch):
    for name, value in ROUND_RATES.items():
        monkeypatch.setattr(cpu, name, value)
    monkeypatch.setattr(cpu, "TOY_ROW_TOKENS", {"single": 100.0, "teacher_mix": 200.0})


def test_toy_shapes_are_the_built_models_shapes(tmp_path):
    """The demo preset's teacher and student as bootstrap._init_model saves them (config.json read back)."""
    from agentark_core.mas.prompts import TEMPLATES
    from agentark_core.toy.bootstrap import ToyBootstrapConfig, _init_model
    from agentark_core.toy.tokenizer import build_toy_tokenizer

    tokenizer = build_toy_tokenizer(TEMPLATES)
    assert len(tokenizer) == cpu.TOY_VOCAB
    preset = ToyBootstrapConfig.preset("demo")
    for role in ("teacher", "student"):
        spec = getattr(preset, role)
        folder = _init_model(tmp_path / role, tokenizer, spec, 0)
        assert cpu.toy_shape(spec) == model_shape(folder)
    # by hand: d 96, 2 layers: attention 27,648 + MLP 110,592 per layer, tied embedding 4279 · 96
    assert cpu.toy_shape(ModelSpec(96, 2, 4)).params == 2 * (27_648 + 110_592) + 4279 * 96 == 687_264


def test_round_shape_by_hand():
    assert cpu.toy_shape(ROUND, vocab=1000).params == 250_000


def test_cpu_training_and_generation_by_hand(round_rates):
    shape = cpu.toy_shape(ROUND, vocab=1000)
    # 10 steps of 1000 tokens: 5 s start + 10 · (0.1 + 6 · 250,000 · 1000 / 1e9 = 1.5) = 21 s
    assert cpu.cpu_train_seconds(shape, 10, 1000) == pytest.approx(21.0)
    # a forward only (2 FLOPs / param / token), no trainer start: 10 · (0.1 + 0.5)
    assert cpu.cpu_train_seconds(shape, 10, 1000, 2.0, runs=0) == pytest.approx(6.0)
    # 1000 new tokens at 1e-3 s, + (1000 new + 2000 prompt tokens) · 2 · 250,000 FLOPs at 1e8 FLOP/s = 15 s
    assert cpu.cpu_generate_seconds(shape, 1000, 2000) == pytest.approx(1.0 + 15.0)


def _recipe(*overrides: str):
    return load_recipe(DEMO_RECIPE, [*overrides, "store.root=/nonexistent/agentark-plan-test"])


def _stage(name: str, reads: tuple = ()):
    return SimpleNamespace(name=name, reads=reads)


def test_debate_and_evaluation_by_hand(round_rates):
    # 10 questions, 3 agents x 2 rounds + aggregator, toy prompt 60 tokens, replies 20 tokens:
    # 70 requests, 1400 new tokens; prompts per question: 3·60 + 3·(60 + 3·20) + (60 + 3·20) = 660
    recipe = _recipe("data.limit=10", "debate.n_agents=3", "debate.rounds=2", "eval.data.limit=10")
    teacher = cpu.toy_shape(toy_specs(recipe)["teacher"])
    est = cpu_estimate(_stage("debate"), recipe, Counts())
    assert est.generated_tokens == 1400
    expected = 1400 * 1e-3 + 2 * teacher.params * (1400 + 6600) / 1e8 + 2.0
    assert est.cpu_seconds == pytest.approx(expected)
    # one agent per question (cot) on the eval set: 10 replies after 60-token prompts
    single = cpu_estimate(_stage("eval_teacher", ("teacher.backend",)), recipe, Counts())
    assert single.cpu_seconds == pytest.approx(200 * 1e-3 + 2 * teacher.params * (200 + 600) / 1e8 + 2.0)
    # a committed ingest's row count replaces the limit
    assert cpu_estimate(_stage("debate"), recipe, Counts({"ingest": 20})).generated_tokens == 2800


def test_bootstrap_by_hand(round_rates):
    # teacher and student: ROUND's shape at the toy vocab, 10 rows a step
    recipe = _recipe("toy.teacher={hidden: 100, layers: 1, heads: 4, steps: 10, batch_size: 10}",
                     "toy.student={hidden: 100, layers: 1, heads: 4, steps: 4, batch_size: 10}")
    est = cpu_estimate(_stage("toy_models"), recipe, Counts())
    shape = cpu.toy_shape(ROUND)
    p = shape.params
    # solving phases: 10 and 4 steps of 10 rows x 100 tokens; debate phase 350 steps of 10 x 200 tokens
    # (the demo preset's teacher_debate_steps); 600 on-policy problems x 5 agents sampled, 20 tokens each
    train = 3 * 5.0 + (10 + 4) * (0.1 + 6 * p * 1000 / 1e9) + 350 * (0.1 + 6 * p * 2000 / 1e9)
    sample = 3000 * 20 * 1e-3 + 2 * p * 3000 * (20 + 60) / 1e8
    assert est.trained_tokens == (10 + 4) * 1000 + 350 * 2000 and est.generated_tokens == 60_000
    assert est.cpu_seconds == pytest.approx(train + sample + 2.0)


def test_routes_by_hand(round_rates):
    from tasks.plan import route_config
    from tasks.stages.routes import ROUTES

    recipe = _recipe("data.limit=100")
    student = cpu.toy_shape(toy_specs(recipe)["student"])
    p = student.params
    routes = {ROUTES.get(n).stage: ROUTES.get(n) for n in ROUTES.names()}

    def estimate(stage, counts=None):
        return cpu_estimate(_stage(stage), recipe, counts or Counts(), routes[stage],
                            route_config(routes[stage], recipe))

    # R-SFT: 100 questions x 5 agents x 0.5 right = 250 rows; 4 epochs of ceil(250 / 32) = 8 steps -> 32 steps
    rsft = estimate("train_rsft")
    assert rsft.cpu_seconds == pytest.approx(5.0 + 32 * (0.1 + 6 * p * 3200 / 1e9) + 2.0)
    # DA: one trace per question (x 0.5 right) = 50 rows, 12 epochs of 2 steps; a committed sft_da's rows win
    assert estimate("train_da").trained_tokens == 24 * 3200
    assert estimate("train_da", Counts({"sft_da": 100})).trained_tokens == 12 * 4 * 3200
    # PRM: 150 Stage I steps (a forward) + 50 Stage II steps of 8 traces x 100 tokens; then 20 held-out
    # questions x best-of-16 = 320 samples of 20 tokens, each scored by the PRM (a forward)
    prm = estimate("train_prm")
    samples = 320 * (20 * 1e-3 + 2 * p * (20 + 60) / 1e8) + 2 * p * 320 * 20 / 1e8
    assert prm.cpu_seconds == pytest.approx(5.0 + 150 * (0.1 + 2 * p * 800 / 1e9) + 50 * (0.1 + 6 * p * 800 / 1e9)
                                            + samples + 2.0)
    # GRPO: 40 steps of 64 completions of 20 tokens after 60-token prompts; update 6 + PRM 2 + reference 2
    # (beta 0.001) FLOPs per param per token; held-out: 32 prompts at steps 0, 10, 20, 30, 40
    pad = estimate("train_pad")
    step = 0.5 + 64 * (20 * 1e-3 + 2 * p * 80 / 1e8) + 0.1 + 10 * p * 64 * 80 / 1e9
    heldout = 160 * (20 * 1e-3 + 2 * p * 80 / 1e8)
    assert pad.cpu_seconds == pytest.approx(5.0 + 40 * step + heldout + 2.0)
    assert pad.generated_tokens == (2560 + 160) * 20 and pad.trained_tokens == 2560 * 80
    # without max_steps: 100 questions x G 4 x 3 epochs (the config's default) / 64 completions a step = 19 steps
    recipe = _recipe("data.limit=100", "train.grpo.max_steps=-1")
    assert cpu_estimate(_stage("train_pad"), recipe, Counts(), routes["train_pad"],
                        route_config(routes["train_pad"], recipe)).trained_tokens == 19 * 64 * 80


def test_the_demo_plan_prices_every_stage_in_cpu_seconds():
    plan = plan_recipe(_recipe(), recipe_source(DEMO_RECIPE))
    assert plan["totals"]["not_estimated"] == [] and plan["totals"]["gpu_hours"] == 0
    seconds = {row["stage"]: row["cpu_seconds"] for row in plan["stages"]}
    assert all(s > 0 for s in seconds.values()), seconds
    assert plan["totals"]["cpu_seconds"] == pytest.approx(sum(seconds.values()), abs=0.1 * len(seconds))
    # the bootstrap trains the most; a debate of 11 calls per question costs more than one agent on the same questions
    assert max(seconds, key=seconds.get) == "toy_models"
    assert seconds["eval_mas"] > 5 * seconds["eval_teacher"]


def test_the_cli_prints_cpu_seconds_for_the_demo():
    result = CliRunner().invoke(app, ["plan", str(DEMO_RECIPE), "--set", "store.root=/nonexistent/agentark-plan"])
    assert result.exit_code == 0, result.output
    assert "CPU s" in result.output and "GPU-h" not in result.output
    assert "CPU cores" in result.output and "not estimated" not in result.output
    assert f"reply_tokens={cpu.TOY_REPLY_TOKENS:g}" in result.output and "fill=" not in result.output
