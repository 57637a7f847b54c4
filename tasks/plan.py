"""``agentark plan``: a recipe's (or a grid's) stage DAG, what is already committed, and the bill.

``plan_recipe`` validates the recipe (``validate_recipe``: nothing loaded, nothing written), computes
every stage's content key, asks the store which are committed (a local store that does not exist
yet is not created) and estimates each stage with ``agentark_core.plan``: tokens to generate and
train on, GPU-hours and peak memory per GPU, each with the measurement it scales. Committed stages
are reused, so they cost nothing; their row counts replace the estimate's guesses downstream.
A grid's plan (``flows/plan.py``) plans every cell with it. A toy-world recipe (``toy:`` models,
``agentark demo``) runs on the CPU: its stages are priced in CPU seconds instead (``tasks/plan_cpu.py``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from agentark_core.plan.costs import GPUS, Decode, Gpu, gib, hours
from agentark_core.plan.shapes import model_shape
from agentark_core.plan.workload import (
    Assumptions,
    Counts,
    StageEstimate,
    TrainKnobs,
    generation_estimate,
    generation_work,
    longest_context,
    prm_estimate,
    prompt_tokens,
    question_count,
    rl_estimate,
    sft_estimate,
)
from tasks.plan_cpu import cpu_estimate, is_toy_recipe, toy_assumptions
from tasks.runner import Stage, plan_keys
from tasks.validate import PLACEHOLDER_OUTPUT, validate_recipe


def plan_recipe(recipe: Any, source: str, assume: Assumptions | None = None, gpu: str = "H100") -> dict:
    """The plan of ``recipe``: ``{"recipe", "source", "gpu", "assumptions", "stages": [...], "totals"}``.

    Raises:
        ConfigError: the recipe does not validate (named key and file); ValueError: an unknown GPU kind.
    """
    assume = assume or Assumptions()
    if gpu not in GPUS:
        raise ValueError(f"unknown GPU {gpu!r}; known: {', '.join(GPUS)}")
    order = validate_recipe(recipe, source)
    keys = plan_keys(order, recipe)
    manifests = committed_manifests(recipe, keys)
    committed = {stage: int(m["rows"]) for stage, m in manifests.items()}
    counts = Counts(dict(committed), debate_reply_tokens=measured_reply_tokens(manifests.get("debate")))
    levels: dict[str, int] = {}
    rows = []
    for stage in order:
        inputs = stage.inputs_for(recipe)
        levels[stage.name] = 1 + max((levels[i] for i in inputs), default=-1)
        estimate = estimate_stage(stage, recipe, counts, assume, GPUS[gpu])
        if estimate.peak_bytes > GPUS[gpu].memory:
            estimate.notes.append(f"peak exceeds one {gpu} ({gib(GPUS[gpu].memory):.0f} GiB): shard it "
                                  "(ZeRO-3 / tensor parallel) or train LoRA (lora_r)")
        rows.append({"stage": stage.name, "level": levels[stage.name], "inputs": list(inputs),
                     "key": keys[stage.name], "committed": stage.name in committed, "pool": stage.pool,
                     **estimate_fields(estimate)})
    assumptions = toy_assumptions() if is_toy_recipe(recipe) else dataclasses.asdict(assume)
    return {"recipe": recipe.name, "source": source, "gpu": gpu, "assumptions": assumptions,
            "stages": rows, "totals": totals(rows)}


def estimate_fields(estimate: StageEstimate) -> dict:
    return {"work": estimate.work, "gpus": estimate.gpus, "generated_tokens": estimate.generated_tokens,
            "trained_tokens": estimate.trained_tokens, "cpu_seconds": round(estimate.cpu_seconds, 1),
            "gpu_hours": hours(estimate.gpu_seconds),
            "wall_hours": hours(estimate.gpu_seconds / max(1, estimate.gpus)),
            "peak_gib_per_gpu": gib(estimate.peak_bytes), "basis": estimate.basis, "notes": estimate.notes}


def totals(rows: list[dict]) -> dict:
    """Sums over the stages still to run (committed ones are reused) and the largest peak."""
    todo = [r for r in rows if not r["committed"]]
    return {"stages": len(rows), "to_run": len(todo),
            "generated_tokens": sum(r["generated_tokens"] for r in todo),
            "trained_tokens": sum(r["trained_tokens"] for r in todo),
            "gpu_hours": round(sum(r["gpu_hours"] for r in todo), 2),
            "cpu_seconds": round(sum(r.get("cpu_seconds", 0.0) for r in todo), 1),
            "wall_hours_one_at_a_time": round(sum(r["wall_hours"] for r in todo), 2),
            "peak_gib_per_gpu": max((r["peak_gib_per_gpu"] for r in todo), default=0.0),
            "not_estimated": [r["stage"] for r in todo if r["work"] == "unknown"]}


def committed_manifests(recipe: Any, keys: dict[str, str]) -> dict[str, dict]:
    """Manifests of the stages whose artifact is already committed (none when a local store is absent)."""
    root = recipe.store.resolved_root()
    if "://" not in root and not Path(root).expanduser().is_dir():
        return {}
    from tasks.store import open_store

    store = open_store(root, recipe.store.credentials_block)
    return {stage: store.read_manifest(stage, key) for stage, key in keys.items() if store.is_committed(stage, key)}


def measured_reply_tokens(manifest: dict | None) -> float | None:
    """Mean completion tokens per debate turn from a committed debate's summary metrics."""
    metrics = (manifest or {}).get("metrics") or {}
    per_question, calls = metrics.get("completion_tokens_per_question"), metrics.get("calls_per_question")
    return per_question / calls if per_question and calls else None


def estimate_stage(stage: Stage, recipe: Any, counts: Counts, assume: Assumptions, gpu: Gpu) -> StageEstimate:
    """Dispatch on what the stage does: debate / LLM label / evaluation generate, routes train."""
    from tasks.stages.routes import ROUTES

    routes = {ROUTES.get(n).stage: ROUTES.get(n) for n in ROUTES.names()}
    if is_toy_recipe(recipe):  # the toy world runs on the CPU: priced in CPU seconds
        route = routes.get(stage.name)
        return cpu_estimate(stage, recipe, counts, route, route_config(route, recipe) if route else None)
    try:
        if stage.name == "debate":
            return _debate(stage.name, recipe, counts, assume, gpu)
        if stage.name == "label" and recipe.label.verifier != "rule":
            return _llm_label(recipe, counts, assume, gpu)
        if stage.name.startswith("eval_"):
            return _evaluation(stage, recipe, counts, assume, gpu)
        if stage.name in routes:
            return _training(routes[stage.name], recipe, counts, assume, gpu)
    except _Unknown as exc:
        return StageEstimate(stage.name, "unknown", notes=[str(exc)])
    work = "cpu" if stage.pool == "cpu" or stage.name == "label" else "unknown"
    notes = [] if work == "cpu" else ["no estimator for this stage"]
    if stage.name == "sft_da" and recipe.extract.judge.model:
        notes.append(f"the DA judge's calls ({recipe.extract.judge.model}) are not estimated")
    return StageEstimate(stage.name, work, notes=notes)


class _Unknown(Exception):
    """An estimate's input is unknown (a model shape, a question count)."""


def _shape(model: str, role: str):
    if model.startswith("toy:"):
        raise _Unknown(f"{role}.model {model!r}: a toy model (CPU demo), no GPU estimate")
    shape = model_shape(model)
    if shape is None:
        raise _Unknown(f"{role}.model {model!r}: shape unknown (not a local folder with config.json, "
                       "not in agentark_core.plan.shapes.KNOWN_SHAPES)")
    return shape


def _questions(section: Any, counts: Counts, stage: str, key: str) -> int:
    n = question_count(section, counts, stage)
    if n is None:
        raise _Unknown(f"{key}: question count unknown (set limit, or a dataset split listed in DATASET_ROWS)")
    return n


def _engine(section: Any) -> tuple[str, int]:
    """(engine, tensor-parallel GPUs) of a model section; openai servers are estimated as vLLM."""
    engine = "hf" if section.backend == "transformers" else "vllm"
    return engine, int(section.options.get("tensor_parallel_size", 1)) if engine == "vllm" else 1


def _memory_utilization(section: Any) -> float:
    return float(section.options.get("gpu_memory_utilization", 0.9))


def _debate(name: str, recipe: Any, counts: Counts, assume: Assumptions, gpu: Gpu) -> StageEstimate:
    section = recipe.debate
    questions = _questions(recipe.data, counts, "ingest", "data")
    engine, tp = _engine(recipe.teacher)
    work = generation_work(_shape(recipe.teacher.model, "teacher"), questions, prompt_tokens(recipe.data.dataset),
                           section.max_tokens, section.protocol, section, assume, tp, engine, section.shard_size)
    estimate = _generated(name, work, gpu, _memory_utilization(recipe.teacher), recipe.teacher.backend)
    estimate.notes.append(f"{questions} questions; every round run (consensus stop only shortens it)")
    _check_context(estimate, recipe.teacher, prompt_tokens(recipe.data.dataset), section.max_tokens,
                   section.protocol, section)
    return estimate


def _check_context(estimate: StageEstimate, model: Any, prompt: int, max_tokens: int, protocol: str,
                   debate: Any) -> None:
    """Note when replies at ``max_tokens`` can outgrow the engine's ``max_model_len``."""
    limit = model.options.get("max_model_len")
    longest = longest_context(prompt, max_tokens, protocol, debate)
    if limit and longest > limit:
        estimate.notes.append(f"with replies at max_tokens the longest context is ~{longest:,} tokens, over "
                              f"the engine's max_model_len {limit:,}: such requests fail")


def _generated(name: str, work, gpu: Gpu, memory_utilization: float, backend: str = "vllm") -> StageEstimate:
    try:
        estimate = generation_estimate(name, work, gpu, memory_utilization)
    except ValueError as exc:  # weights or contexts that do not fit: say so, keep planning
        estimate = StageEstimate(name, "generate", gpus=work.tp, generated_tokens=work.new_tokens,
                                 notes=[f"does not fit: {exc}"])
    if backend == "openai":
        estimate.notes.append("runs on the OpenAI-compatible server: its GPUs, estimated as one vLLM engine")
    return estimate


def _llm_label(recipe: Any, counts: Counts, assume: Assumptions, gpu: Gpu) -> StageEstimate:
    """An LLM verifier reads every turn's reply and writes a verdict of a few tokens."""
    section = recipe.debate
    questions = _questions(recipe.data, counts, "ingest", "data")
    turns = counts.rows.get("debate") or questions * (section.n_agents * section.rounds + 1)
    prompt = prompt_tokens(recipe.data.dataset) + section.max_tokens * assume.fill
    engine, tp = _engine(recipe.label.model)
    work = Decode(_shape(recipe.label.model.model, "label.model"), turns, int(turns * prompt),
                  turns * assume.verdict_tokens, tp=tp, engine=engine)
    return _generated("label", work, gpu, _memory_utilization(recipe.label.model), recipe.label.model.backend)


def _evaluation(stage: Stage, recipe: Any, counts: Counts, assume: Assumptions, gpu: Gpu) -> StageEstimate:
    """An eval stage: the teacher (single or MAS, by whether it reads ``debate``) or a student route."""
    role = "teacher" if "teacher.backend" in stage.reads else "student"
    mas = "debate" in stage.reads
    section = getattr(recipe, role)
    questions = _questions(recipe.eval.data, counts, "ingest_eval", "eval.data")
    engine, tp = _engine(section)
    max_tokens = recipe.debate.max_tokens if mas else recipe.eval.max_tokens
    work = generation_work(_shape(section.model, role), questions, prompt_tokens(recipe.eval.data.dataset),
                           max_tokens, recipe.debate.protocol if mas else "cot", recipe.debate, assume, tp, engine,
                           recipe.eval.shard_size)
    estimate = _generated(stage.name, work, gpu, _memory_utilization(section), section.backend)
    if recipe.eval.judge.model:
        estimate.notes.append(f"the reasoning judge's calls ({recipe.eval.judge.model}) are not estimated")
    _check_context(estimate, section, prompt_tokens(recipe.eval.data.dataset), max_tokens,
                   recipe.debate.protocol if mas else "cot", recipe.debate)
    return estimate


def _training(route: Any, recipe: Any, counts: Counts, assume: Assumptions, gpu: Gpu) -> StageEstimate:
    """A route's training on the GPUs its ``train.launch`` section gives it (GPU-hours as on one GPU, the
    wall time divided among them: linear scaling assumed; peak memory is one process's as on one GPU)."""
    from tasks.stages.routes import launch_settings

    estimate = _one_gpu_training(route, recipe, counts, assume, gpu)
    settings = launch_settings(route, recipe)
    if settings is not None and settings[1].num_gpus > 1:
        section, launch = settings
        estimate.gpus = launch.num_gpus
        estimate.notes.append(f"train.launch.{section}: {launch.num_gpus} GPUs ({launch.distributed}), linear "
                              "scaling assumed (bench/bench_multi_gpu.py measures it); memory as on one GPU"
                              + (" (ZeRO shards it: lower)" if launch.distributed != "ddp" else ""))
    return estimate


def _one_gpu_training(route: Any, recipe: Any, counts: Counts, assume: Assumptions, gpu: Gpu) -> StageEstimate:
    """A route's training, from the trainer config its builder makes (so unstated fields are the class's)."""
    config = route_config(route, recipe)
    shape = _shape(recipe.student.model, "student")
    questions = _questions(recipe.data, counts, "ingest", "data")
    prompt = prompt_tokens(recipe.data.dataset)
    reply = counts.debate_reply_tokens or recipe.debate.max_tokens * assume.fill
    if route.kind == "prm":
        traces = counts.rows.get(route.data) or questions * recipe.debate.n_agents
        return prm_estimate(route.stage, shape, traces, prompt + reply, config, gpu)
    if route.data == "ingest":
        return rl_estimate(route.stage, shape, questions, prompt, config, gpu, assume)
    knobs = TrainKnobs(epochs=config.num_train_epochs, max_steps=config.max_steps,
                       batch=config.per_device_train_batch_size, grad_accum=config.gradient_accumulation_steps,
                       max_length=config.max_length, lora=getattr(config, "lora_r", 0) > 0)
    rows = counts.rows.get(route.data) or _guessed_rows(route.data, recipe, questions, assume)
    return sft_estimate(route.stage, shape, rows, prompt + reply, knobs, gpu)


def route_config(route: Any, recipe: Any) -> Any:
    """The trainer config a route's builder makes from the recipe (checked as the validation does)."""
    from tasks.stages.train import CHECKING

    token = CHECKING.set(True)
    try:
        return route.config(recipe, PLACEHOLDER_OUTPUT)
    finally:
        CHECKING.reset(token)


def _guessed_rows(data: str, recipe: Any, questions: int, assume: Assumptions) -> int:
    """SFT rows before extraction: DA keeps up to ``max_k`` traces per question, R-SFT the paper's ratio."""
    if data == "sft_da":
        return questions * recipe.extract.max_k
    return int(questions * recipe.debate.n_agents * assume.trajectories_per_question_per_agent)
