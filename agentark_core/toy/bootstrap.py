"""Bootstrap the toy world's teacher and student from scratch on a CPU (the toy world; paper §3.2–3.3).

Builds, with the project's own SFT trainer (``agentark_core.train.sft.train_sft``), two
random-init Qwen3 models saved in HF format next to the word-level toy tokenizer:

- the TEACHER learns in two SFT phases: single-agent solving first, then a mix of solving, debate
  revision and aggregation (``toy/revision.py``) so that a debate of teacher agents corrects wrong
  answers. Revision prompts are 3-4x longer than a problem, and a model that cannot solve yet only
  learns to copy its peers, so the cheap solving phase comes first. The debate rows of the second
  phase show, for ``on_policy_problems`` problems, the first-phase teacher's own sampled answers
  as peers: on simulated corruptions alone, revision only copied the round-1 majority
  (bench/bench_toy_world.py);
- the STUDENT is smaller and learns single-agent solving only, so distillation has room to help.

Every debate prompt is checked to tokenize without ``<|unk|>`` before training.

Example:
    >>> out = bootstrap_toy_models("toy_models/", ToyBootstrapConfig.preset("quick"))  # doctest: +SKIP
    >>> out["teacher"], out["student"]                                                 # doctest: +SKIP
    ('toy_models/teacher', 'toy_models/student')
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from agentark_core.toy.problems import ToyConfig, generate_problems
from agentark_core.toy.revision import ExampleMix, build_examples, flatten_chat

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """Shape and training budget of one toy model.

    Attributes:
        hidden: hidden size d (MLP width 4d, head dim d / heads).
        layers: transformer layers.
        heads: attention heads (key/value heads = heads / 2).
        steps: optimizer steps of SFT.
        lr: peak learning rate (cosine decay after a 5% warm-up).
        batch_size: examples per step.
    """

    hidden: int = 128
    layers: int = 3
    heads: int = 4
    steps: int = 800
    lr: float = 2e-3
    batch_size: int = 48

    def __post_init__(self) -> None:
        for name in ("hidden", "layers", "heads", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"ModelSpec.{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden % self.heads:
            raise ValueError(f"ModelSpec.hidden ({self.hidden}) must be divisible by heads ({self.heads})")


@dataclass(frozen=True)
class ToyBootstrapConfig:
    """Everything :func:`bootstrap_toy_models` reads.

    Attributes:
        teacher: teacher shape and budget of its first (single-agent) SFT phase.
        teacher_debate_steps: steps of the teacher's second phase on ``teacher_mix`` (0 = none).
        on_policy_problems: for this many training problems, the debate rows of the second phase use
            the first-phase teacher's own sampled answers (the errors it really makes) instead of
            simulated corruptions; 0 = simulated only.
        sample_temperature: temperature of those samples (match the debate's).
        sample_max_tokens: token cap of those samples.
        student: student shape and budget (trained on single-agent examples only).
        train_problems: number of generated ``train`` problems.
        teacher_mix: examples per problem for the teacher.
        single_mix: examples per problem of the single-agent training (the student, the teacher's first phase).
        toy: problem difficulty.
        seed: seed of problems, examples, initialisation and training.
    """

    teacher: ModelSpec = ModelSpec(steps=1600)
    teacher_debate_steps: int = 1200
    on_policy_problems: int = 3000
    sample_temperature: float = 0.7
    sample_max_tokens: int = 64
    student: ModelSpec = ModelSpec(hidden=96, layers=2, heads=4, steps=800)
    train_problems: int = 6000
    teacher_mix: ExampleMix = field(default_factory=lambda: ExampleMix(single=2, revision=2, aggregate=1))
    single_mix: ExampleMix = field(default_factory=lambda: ExampleMix(single=1, revision=0, aggregate=0))
    toy: ToyConfig = field(default_factory=ToyConfig)
    seed: int = 0

    @classmethod
    def preset(cls, name: str) -> ToyBootstrapConfig:
        """``default`` (the measured world of bench/bench_toy_world.py), ``demo`` (``agentark demo`` on a
        CPU) or ``quick`` (seconds, for CI; not accurate).

        ``default`` trains the teacher 1600 + 1200 steps and samples 15k answers: about 5 minutes on one
        H100, but hours through ``train_sft`` on 2 busy CPU cores (measured 4.3 s per solving step and
        27 s per debate step there); fewer steps give a teacher too weak for debate to help.
        ``demo`` shrinks the world instead of the training: ``+``/``-`` only, numbers 1-9, 1-3 steps
        (few arithmetic facts to learn), a d=96 teacher (550 solving + 350 debate-phase steps, 600
        on-policy problems, two aggregation rows per problem since the aggregator gives the MAS answer)
        and a d=64 student. Measured: 8.6 min on 2 shared CPU cores (load ~2); a d=128 teacher on
        numbers 1-20 with all four operations reached only 18-20% greedy in a similar budget.
        The demo student's 500 steps (issue 19) put it mid-way: held-out accuracy on 500 test problems,
        greedy / T = 1 (mean of eval seeds 0-2), by student steps: 200: 12 / 8.3, 300: 23 / 12,
        400: 40 / 15, 450: 38 / 17, 500: 67 / 36, 600: 84 / 62 (CPU). At 200 steps it had learned
        the format, not the arithmetic, and distillation gains were within eval noise; at 600 it
        matches the teacher's one sampled agent. The curve is steep between 450 and 500 steps.
        """
        presets = {
            "default": cls(),
            "demo": cls(
                teacher=ModelSpec(hidden=96, layers=2, heads=4, steps=550, lr=3e-3, batch_size=32),
                teacher_debate_steps=350,
                on_policy_problems=600,
                student=ModelSpec(hidden=64, layers=2, heads=4, steps=500, lr=3e-3, batch_size=32),
                train_problems=3000,
                teacher_mix=ExampleMix(single=1, revision=1, aggregate=2),
                toy=ToyConfig(n_steps=(1, 3), number_range=(1, 9), operations=("+", "-")),
            ),
            "quick": cls(
                teacher=ModelSpec(hidden=32, layers=1, heads=2, steps=4, batch_size=8),
                teacher_debate_steps=2,
                on_policy_problems=4,
                sample_max_tokens=8,
                student=ModelSpec(hidden=16, layers=1, heads=2, steps=2, batch_size=8),
                train_problems=24,
                teacher_mix=ExampleMix(single=1, revision=1, aggregate=1),
            ),
        }
        if name not in presets:
            raise ValueError(f"unknown toy bootstrap preset {name!r}; valid: {sorted(presets)}")
        return presets[name]


def _init_model(path: Path, tokenizer, spec: ModelSpec, seed: int) -> str:
    """Save a random-init Qwen3 of ``spec`` with the toy tokenizer at ``path``."""
    from agentark_core.toy.tiny import save_random_init, tiny_qwen3_config

    config = tiny_qwen3_config(
        len(tokenizer), hidden=spec.hidden, layers=spec.layers, heads=spec.heads,
        intermediate_size=4 * spec.hidden,
    )
    return save_random_init(path, tokenizer, config, seed)


def sft_rows(tokenizer, rows: list[dict]) -> list[dict]:
    """``sft_examples`` rows (``prompt`` = flattened chat) after checking no prompt hits ``<|unk|>``.

    Raises:
        ValueError: naming the first example whose rendered chat has an unknown word.
    """
    out = []
    for i, row in enumerate(rows):
        prompt = flatten_chat(tokenizer, row["messages"])
        ids = tokenizer(f"{prompt}\n{row['reasoning']}\n{row['answer']}", add_special_tokens=False).input_ids
        if tokenizer.unk_token_id in ids:
            unknown = [t for t, i_ in zip(tokenizer.tokenize(prompt), ids) if i_ == tokenizer.unk_token_id]
            raise ValueError(f"toy example {i} ({row['kind']}) has words outside the toy vocab: {unknown[:5]}")
        out.append({k: v for k, v in row.items() if k != "messages"} | {"prompt": prompt})
    return out


def _train(init: str, rows: list[dict], out: Path, spec: ModelSpec, seed: int) -> dict:
    import torch

    from agentark_core.train.sft import train_sft
    from agentark_core.train.sft_config import AgentArkSFTConfig

    config = AgentArkSFTConfig(
        output_dir=str(out), max_steps=spec.steps, per_device_train_batch_size=spec.batch_size,
        learning_rate=spec.lr, lr_scheduler_type="cosine", warmup_steps=max(1, spec.steps // 20),
        weight_decay=0.01, bf16=False, logging_steps=max(1, spec.steps // 20), report_to="none",
        save_strategy="no", seed=seed, dataloader_pin_memory=False,  # train_sft shows a loss bar
        padding_free=torch.cuda.is_available(),  # off CUDA, padded batches are faster (no quadratic sdpa row)
    )
    return train_sft(init, rows, str(out), config)


def bootstrap_toy_models(out_dir: str | Path, config: ToyBootstrapConfig | None = None) -> dict:
    """Build the toy tokenizer, then train and save the teacher and the student under ``out_dir``.

    Args:
        out_dir: folder that receives ``teacher/``, ``student/`` (HF checkpoints with the tokenizer),
            ``teacher_single/`` (the teacher after its first phase), the random-init ``*_init/`` folders
            and ``bootstrap.json`` (the returned dict).
        config: a :class:`ToyBootstrapConfig`; None = the ``default`` preset.

    Returns:
        ``{"teacher": path, "student": path, "runtime_s": float, "examples": {phase: {kind: count}},
        "teacher_metrics", "teacher_debate_metrics", "student_metrics": train_sft metrics, "config"}``
        where the metrics hold ``loss_curve``, ``train_loss``, ``train_runtime``, ``global_step``, ...
    """
    from agentark_core.mas.prompts import TEMPLATES
    from agentark_core.toy.tokenizer import build_toy_tokenizer

    config = config or ToyBootstrapConfig()
    out_dir = Path(out_dir)
    start = time.perf_counter()
    tokenizer = build_toy_tokenizer(TEMPLATES)
    problems = generate_problems(config.train_problems, "train", config.seed, config.toy)
    single_rows = sft_rows(tokenizer, build_examples(problems, config.single_mix, config.seed + 1))
    result: dict = {"examples": {"single": _count_kinds(single_rows)}}
    for name, spec, seed in (("teacher", config.teacher, config.seed), ("student", config.student, config.seed + 1)):
        init = _init_model(out_dir / f"{name}_init", tokenizer, spec, seed)
        folder = out_dir / (f"{name}_single" if name == "teacher" and config.teacher_debate_steps else name)
        log.info("training toy %s (%s) on %d single-agent examples", name, spec, len(single_rows))
        result[f"{name}_metrics"] = _train(init, single_rows, folder, spec, seed)
        result[name] = str(folder)
    if config.teacher_debate_steps:
        sampled = _sample_answers(result["teacher"], problems[: config.on_policy_problems], config)
        rows = sft_rows(tokenizer, build_examples(problems, config.teacher_mix, config.seed, sampled))
        result["examples"]["teacher_debate"] = _count_kinds(rows)
        spec = dataclasses.replace(config.teacher, steps=config.teacher_debate_steps)
        log.info("training toy teacher on %d single/revision/aggregate examples", len(rows))
        result["teacher_debate_metrics"] = _train(result["teacher"], rows, out_dir / "teacher", spec, config.seed)
        result["teacher"] = str(out_dir / "teacher")
    result["runtime_s"] = time.perf_counter() - start
    result["config"] = dataclasses.asdict(config)
    (out_dir / "bootstrap.json").write_text(json.dumps(result, indent=1))
    return result


def _sample_answers(model: str, problems: list, config: ToyBootstrapConfig) -> dict[str, list[str]]:
    """``question_id -> n_agents`` round-1 answers of ``model`` (one batched self-consistency call)."""
    if not problems:
        return {}
    from agentark_core.llm.hf_backend import TransformersGenerator
    from agentark_core.mas import SelfConsistencyConfig, run_protocol
    from agentark_core.toy.revision import toy_question

    generator = TransformersGenerator(model=model, micro_batch_size=256, show_progress=False)
    sampling = SelfConsistencyConfig(
        n_agents=config.teacher_mix.n_agents, temperature=config.sample_temperature,
        max_tokens=config.sample_max_tokens, seed=config.seed,
    )
    turns = run_protocol("self_consistency", [toy_question(p) for p in problems], generator, sampling)
    answers: dict[str, list[str]] = {}
    for turn in turns:
        if turn.role == "agent":
            answers.setdefault(turn.question_id, []).append(turn.response)
    log.info("sampled %d teacher answers on %d training problems", sum(map(len, answers.values())), len(answers))
    return answers


def _count_kinds(rows: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["kind"]] = counts.get(row["kind"], 0) + 1
    return counts
