"""The plan of a toy-world recipe (``toy:teacher`` / ``toy:student``): each stage's CPU seconds.

The toy models are trained by the ``toy_models`` stage on the CPU, so there is no GPU bill; instead
every stage is priced in seconds on this machine's cores (``agentark_core.plan.cpu``: rates measured
by ``bench/bench_plan_cpu.py``), from the toy models' shapes (the recipe's ``toy`` preset and
overrides) and the stage's work counted as the GPU plan counts it (``plan.workload``), with the toy
world's measured reply and row lengths in place of ``fill`` x ``max_tokens``.

``tests/integration/test_plan_vs_demo.py`` compares these estimates with a cold demo's stage wall times.
"""

from __future__ import annotations

import math
from typing import Any

from agentark_core.plan import cpu
from agentark_core.plan.shapes import ModelShape
from agentark_core.plan.workload import (
    Assumptions,
    Counts,
    StageEstimate,
    generation_work,
    prompt_tokens,
    rl_steps,
)

BASIS = "CPU: toy shapes at the rates of bench/bench_plan_cpu.py (agentark_core/plan/cpu.py)"


def is_toy_recipe(recipe: Any) -> bool:
    """Whether the recipe's teacher or student is a toy model (trained on the CPU by ``toy_models``)."""
    return any(getattr(recipe, role).model.startswith("toy:") for role in ("teacher", "student"))


def toy_assumptions() -> dict:
    """What a toy plan assumes in place of ``Assumptions`` (measured toy lengths, ``plan.cpu``)."""
    return {"reply_tokens": cpu.TOY_REPLY_TOKENS, "row_tokens": cpu.TOY_ROW_TOKENS["single"],
            "debate_phase_row_tokens": cpu.TOY_ROW_TOKENS["teacher_mix"], "agent_accuracy": cpu.TOY_AGENT_ACCURACY}


def toy_specs(recipe: Any) -> dict[str, Any]:
    """``{"teacher", "student"}``: the toy models' ``ModelSpec`` (shape and budget) from the recipe's ``toy`` section."""
    from tasks.stages.toy import bootstrap_config

    config = bootstrap_config(recipe)
    return {"teacher": config.teacher, "student": config.student}


def cpu_estimate(stage: Any, recipe: Any, counts: Counts, route: Any = None, config: Any = None) -> StageEstimate:
    """One stage of a toy recipe: its CPU seconds and the work they price.

    Args:
        stage: the pipeline stage; route / config: the training route of a ``train_*`` stage and the
            trainer config its builder makes.
    """
    specs = toy_specs(recipe)
    shapes = {role: cpu.toy_shape(spec) for role, spec in specs.items()}
    if stage.name == "toy_models":
        return _bootstrap(recipe, specs, shapes)
    if stage.name == "debate":
        questions = _questions(recipe.data, counts, "ingest")
        return _generation(stage.name, shapes["teacher"], questions, recipe.debate.protocol, recipe.debate.max_tokens,
                           recipe)
    if stage.name.startswith("eval_"):
        role = "teacher" if "teacher.backend" in stage.reads else "student"
        mas = "debate" in stage.reads
        questions = _questions(recipe.eval.data, counts, "ingest_eval")
        return _generation(stage.name, shapes[role], questions, recipe.debate.protocol if mas else "cot",
                           recipe.debate.max_tokens if mas else recipe.eval.max_tokens, recipe)
    if route is not None:
        questions = _questions(recipe.data, counts, "ingest")
        if route.kind == "prm":
            return _prm(stage.name, shapes["student"], questions, recipe, counts, config)
        if route.data == "ingest":
            return _rl(stage.name, shapes["student"], questions, config)
        return _sft(stage.name, shapes["student"], route.data, questions, recipe, counts, config)
    return StageEstimate(stage.name, "cpu", cpu_seconds=cpu.CPU_STAGE_S, basis="a stage without a model (assumed)")


def _questions(section: Any, counts: Counts, stage: str) -> int:
    return counts.rows.get(stage) or section.limit or 0


def _bootstrap(recipe: Any, specs: dict[str, Any], shapes: dict[str, ModelShape]) -> StageEstimate:
    """The teacher's solving phase, its sampled answers, its debate phase, then the student (``bootstrap.py``)."""
    from tasks.stages.toy import bootstrap_config

    config = bootstrap_config(recipe)
    teacher, student = specs["teacher"], specs["student"]
    single, mix = cpu.TOY_ROW_TOKENS["single"], cpu.TOY_ROW_TOKENS["teacher_mix"]
    phases = [cpu.cpu_train_seconds(shapes["teacher"], teacher.steps, teacher.batch_size * single),
              cpu.cpu_train_seconds(shapes["student"], student.steps, student.batch_size * single)]
    trained = (teacher.steps * teacher.batch_size + student.steps * student.batch_size) * single
    generated = 0
    if config.teacher_debate_steps:
        samples = config.on_policy_problems * config.teacher_mix.n_agents
        generated = int(samples * min(cpu.TOY_REPLY_TOKENS, config.sample_max_tokens))
        phases += [cpu.cpu_generate_seconds(shapes["teacher"], generated, samples * prompt_tokens("toy")),
                   cpu.cpu_train_seconds(shapes["teacher"], config.teacher_debate_steps, teacher.batch_size * mix)]
        trained += config.teacher_debate_steps * teacher.batch_size * mix
    return StageEstimate("toy_models", "cpu", generated_tokens=generated, trained_tokens=int(trained),
                         cpu_seconds=sum(phases) + cpu.CPU_MODEL_STAGE_S,
                         basis=f"{BASIS}; teacher {shapes['teacher'].params / 1e3:.0f}k and student "
                               f"{shapes['student'].params / 1e3:.0f}k params")


def _generation(name: str, shape: ModelShape, questions: int, protocol: str, max_tokens: int,
                recipe: Any) -> StageEstimate:
    """Every request of the protocol (all rounds: consensus stop only shortens it), replies of the toy length."""
    fill = min(1.0, cpu.TOY_REPLY_TOKENS / max_tokens)
    work = generation_work(shape, questions, prompt_tokens("toy"), max_tokens, protocol, recipe.debate,
                           Assumptions(fill=fill), 1, "hf", 1)
    seconds = cpu.cpu_generate_seconds(shape, work.new_tokens, work.prompt_tokens) + cpu.CPU_MODEL_STAGE_S
    return StageEstimate(name, "cpu", generated_tokens=work.new_tokens, cpu_seconds=seconds,
                         basis=f"{BASIS}; {work.sequences} requests of ~{cpu.TOY_REPLY_TOKENS:.0f} tokens")


def _sft(name: str, shape: ModelShape, data: str, questions: int, recipe: Any, counts: Counts,
         config: Any) -> StageEstimate:
    """R-SFT keeps every right answer of every agent, DA about one trace per toy question (one solution path)."""
    guess = questions * recipe.debate.n_agents if data == "sft_rsft" else questions
    rows = counts.rows.get(data) or int(guess * cpu.TOY_AGENT_ACCURACY)
    batch = config.per_device_train_batch_size * config.gradient_accumulation_steps
    steps = config.max_steps if config.max_steps > 0 else math.ceil(rows / batch) * config.num_train_epochs
    tokens = batch * cpu.TOY_ROW_TOKENS["single"]
    return StageEstimate(name, "cpu", trained_tokens=int(steps * tokens),
                         cpu_seconds=cpu.cpu_train_seconds(shape, steps, tokens) + cpu.CPU_MODEL_STAGE_S,
                         basis=f"{BASIS}; {rows} rows, {steps:.0f} steps")


def _prm(name: str, shape: ModelShape, questions: int, recipe: Any, counts: Counts, config: Any) -> StageEstimate:
    """Stage I (a forward: 2·params) and Stage II (6·params) steps, then the held-out best-of-N samples."""
    traces = counts.rows.get("prm_data") or questions * recipe.debate.n_agents
    per_step = config.traces_per_batch * config.gradient_accumulation_steps
    tokens = per_step * cpu.TOY_ROW_TOKENS["single"]

    def steps(max_steps: int, epochs: float) -> float:
        return max_steps if max_steps > 0 else math.ceil(traces / per_step) * epochs

    seconds = cpu.cpu_train_seconds(shape, steps(config.stage1_max_steps, config.stage1_epochs), tokens, 2.0) + \
        cpu.cpu_train_seconds(shape, steps(config.stage2_max_steps, config.stage2_epochs), tokens, runs=0)
    samples = int(questions * config.heldout_fraction) * max(config.eval_best_of or [0])
    replies = samples * min(cpu.TOY_REPLY_TOKENS, config.eval_max_tokens)
    seconds += cpu.cpu_generate_seconds(shape, replies, samples * prompt_tokens("toy"))
    seconds += cpu.cpu_forward_seconds(shape, replies)  # the PRM scores every sample
    return StageEstimate(name, "cpu", generated_tokens=int(replies), cpu_seconds=seconds + cpu.CPU_MODEL_STAGE_S,
                         basis=f"{BASIS}; {traces} traces; {samples} held-out best-of-N samples")


def _rl(name: str, shape: ModelShape, questions: int, config: Any) -> StageEstimate:
    """GRPO (or PPO): per step the rollouts, the update (policy 6·params, PRM and reference 2·params each per
    token) and TRL's fixed per-step work; then the held-out prompts sampled at every evaluation."""
    steps, completions, n_frozen = rl_steps(config, questions)
    prompt, reply = prompt_tokens("toy"), min(cpu.TOY_REPLY_TOKENS, config.max_completion_length)
    frozen = 2.0 * n_frozen
    per_step = cpu.CPU_GRPO_STEP_S + cpu.cpu_generate_seconds(shape, completions * reply, completions * prompt) + \
        cpu.cpu_train_seconds(shape, 1, completions * (prompt + reply), 6.0 + frozen, runs=0)
    evals = 0
    if getattr(config, "heldout_prompts", 0) and getattr(config, "eval_strategy", "no") != "no":
        evals = steps // max(1, config.eval_steps) + bool(getattr(config, "eval_on_start", False))
    heldout = evals * config.heldout_prompts * getattr(config, "num_generations_eval", 1)
    seconds = cpu.cpu_train_seconds(shape, 0, 0) + steps * per_step + \
        cpu.cpu_generate_seconds(shape, heldout * reply, heldout * prompt)
    return StageEstimate(name, "cpu", generated_tokens=int((steps * completions + heldout) * reply),
                         trained_tokens=int(steps * completions * (prompt + reply)),
                         cpu_seconds=seconds + cpu.CPU_MODEL_STAGE_S,
                         basis=f"{BASIS}; {steps} steps x {completions} completions, {heldout} held-out samples")
