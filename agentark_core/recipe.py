"""The recipe: one typed config tree for a whole pipeline run (model x dataset x stage family).

Every field has a default, so a YAML recipe only states what differs (``recipes/demo.yaml`` is
the embedded demo). Sections that pass fields to a core config (the trainers, the toy world)
hold only the fields a recipe states and take their defaults from that config; the debate
section's defaults are ``DebateConfig``'s. Each stage declares the dotted fields it reads
(``tasks/stages``); its artifact key changes only when those change.

Load with ``load_recipe("recipes/gsm8k_qwen3.yaml", ["debate.n_agents=7"])``; loading checks keys and
types, ``tasks.validate.validate_recipe`` then checks the whole recipe before any stage runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from agentark_core.config_loader import (
    ConfigError,
    FieldsOf,
    apply_overrides,
    build,
    default_of,
    load_layered,
    select,
)
from agentark_core.evaluate.judge import JudgeConfig
from agentark_core.mas.debate import DebateConfig

DEMO = "demo"


@dataclass
class StoreSection:
    """Where artifacts live. ``root`` empty = $AGENTARK_STORE or the user's data dir.

    Credentials never go here: S3 endpoint and keys come from the environment
    (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL) or a Prefect Secret
    block named by ``credentials_block``.
    """

    root: str = ""
    credentials_block: str = ""

    def resolved_root(self) -> str:
        if self.root:
            return self.root
        if os.environ.get("AGENTARK_STORE"):
            return os.environ["AGENTARK_STORE"]
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return str(Path(base) / "agentark" / "store")


@dataclass
class DataSection:
    """A question set: a registered dataset name, read from a hub id or a local file."""

    dataset: str = "toy"
    source: str | None = None
    split: str = "train"
    limit: int | None = 200
    seed: int = 0
    shard_size: int = 1000
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1 or null, got {self.limit}")
        if self.shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {self.shard_size}")


@dataclass
class ModelSection:
    """A model and the backend that runs it (transformers | vllm | openai)."""

    model: str = ""
    backend: str = "transformers"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DebateSection:
    """Multi-agent data generation (paper §3.2, App. A.2).

    The protocol's fields default to ``DebateConfig``'s (one source); the stage passes each
    protocol the fields its config has. ``seed`` is the run's base seed (each shard derives its own).
    """

    protocol: str = "debate"
    n_agents: int = default_of(DebateConfig, "n_agents")
    rounds: int = default_of(DebateConfig, "rounds")
    consensus_stop: bool = default_of(DebateConfig, "consensus_stop")
    repeat_context: bool = default_of(DebateConfig, "repeat_context")
    temperature: float = default_of(DebateConfig, "temperature")
    aggregator_temperature: float | None = default_of(DebateConfig, "aggregator_temperature")
    top_p: float = default_of(DebateConfig, "top_p")
    max_tokens: int = default_of(DebateConfig, "max_tokens")
    seed: int = 0
    shard_size: int = 64

    def __post_init__(self) -> None:
        if self.n_agents < 1:
            raise ValueError(f"n_agents must be >= 1, got {self.n_agents}")
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")
        if self.shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {self.shard_size}")


@dataclass
class LabelSection:
    """Answer verification (paper §3.2, App. A.3): ``rule`` | ``llm`` | ``llm_only`` | ``rule_then_llm``.

    ``model`` is the LLM verifier (paper: Qwen2.5-72B-Instruct), unused by ``rule``.
    """

    verifier: str = "rule"
    model: ModelSection = field(default_factory=ModelSection)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExtractSection:
    """Knowledge extraction (paper §3.2, App. A.3-A.4); see ``agentark_core.extract.ExtractConfig``.

    ``judge`` is the DA diversity judge LLM; empty = greedy max-min structural selection.
    ``min_examples``: an R-SFT / DA set smaller than this is a loud warning in its stage summary.
    ``include_truncated`` trains on replies cut off at ``max_tokens`` (default: never);
    ``include_reasoning`` keeps a reasoning model's think block in SFT targets and PRM steps
    (default: the visible reply only; why: ``agentark_core.extract.inputs``).
    """

    min_correct: int = 2
    max_per_question: int | None = None
    corrective_first: bool = True
    max_k: int = 3
    min_distance: float = 0.0
    pattern_splitter: str = "line"
    prm_splitter: str = "line"
    include_truncated: bool = False
    include_reasoning: bool = False
    min_examples: int = 50
    judge: ModelSection = field(default_factory=ModelSection)


TOY_MODEL_FIELDS = FieldsOf("agentark_core.toy.bootstrap:ModelSpec")
TOY_PROBLEM_FIELDS = FieldsOf("agentark_core.toy.problems:ToyConfig")


@dataclass
class ToySection:
    """The toy world's bootstrap (``agentark_core.toy.bootstrap``): preset + field overrides.

    ``teacher`` / ``student`` override ``ModelSpec`` fields (hidden, layers, heads, steps, lr,
    batch_size); ``difficulty`` overrides ``ToyConfig`` fields of the training problems.
    """

    preset: str = "default"
    teacher: Annotated[dict[str, Any], TOY_MODEL_FIELDS] = field(default_factory=dict)
    student: Annotated[dict[str, Any], TOY_MODEL_FIELDS] = field(default_factory=dict)
    train_problems: int | None = None
    difficulty: Annotated[dict[str, Any], TOY_PROBLEM_FIELDS] = field(default_factory=dict)
    seed: int = 0


# Trainer configs whose fields the train sections pass through (``output_dir`` is the artifact's).
SFT_FIELDS = FieldsOf("agentark_core.train.sft_config:AgentArkSFTConfig", exclude=("output_dir",))
PRM_FIELDS = FieldsOf("agentark_core.train.prm_config:PRMConfig")
GRPO_FIELDS = FieldsOf("agentark_core.train.grpo_config:AgentArkGRPOConfig", exclude=("output_dir",))
PPO_FIELDS = FieldsOf("agentark_core.train.ppo_config:AgentArkPPOConfig")


@dataclass
class LaunchSection:
    """How many GPUs one training takes and how they share it (``agentark_core.train.launch``).

    ``num_gpus`` > 1 trains under ``accelerate launch`` with one process per GPU and the
    ``infra/accelerate/<distributed>.yaml`` config: ``ddp`` (a model replica per GPU), ``zero2``
    (DeepSpeed: optimizer state and gradients sharded), ``zero3`` (parameters sharded too). Each
    process trains on its own batches, so the effective batch is ``num_gpus`` x the per-device one.
    Which trainer takes which is checked with the whole recipe (PRM, PPO: ddp).
    """

    num_gpus: int = 1
    distributed: Literal["ddp", "zero2", "zero3"] = "ddp"

    def __post_init__(self) -> None:
        if self.num_gpus < 1:
            raise ValueError(f"num_gpus must be >= 1, got {self.num_gpus}")


@dataclass
class TrainLaunch:
    """``train.launch.<section>``: the GPUs of the trainings configured by ``train.<section>``."""

    sft: LaunchSection = field(default_factory=LaunchSection)
    da: LaunchSection = field(default_factory=LaunchSection)
    prm: LaunchSection = field(default_factory=LaunchSection)
    grpo: LaunchSection = field(default_factory=LaunchSection)
    ppo: LaunchSection = field(default_factory=LaunchSection)


@dataclass
class TrainSection:
    """Distillation routes (paper §3.3): each mapping holds fields of a trainer config.

    ``sft`` (R-SFT) and ``da`` take ``AgentArkSFTConfig`` fields (every ``trl.SFTConfig`` field),
    ``prm`` ``PRMConfig``'s, ``grpo`` ``AgentArkGRPOConfig``'s, ``ppo`` ``AgentArkPPOConfig``'s; a
    recipe states only what differs from the config's defaults (the one source of defaults), and
    unknown keys or wrong types fail at load time. ``rl`` picks the PAD policy optimiser (paper:
    GRPO; PPO ablation). ``launch`` gives each section's trainings their GPUs (:class:`TrainLaunch`),
    apart from the trainer fields, e.g. ``launch: {prm: {num_gpus: 2}, sft: {num_gpus: 4, distributed: zero3}}``.
    """

    sft: Annotated[dict[str, Any], SFT_FIELDS] = field(default_factory=dict)
    da: Annotated[dict[str, Any], SFT_FIELDS] = field(default_factory=dict)
    prm: Annotated[dict[str, Any], PRM_FIELDS] = field(default_factory=dict)
    rl: str = "grpo"
    grpo: Annotated[dict[str, Any], GRPO_FIELDS] = field(default_factory=dict)
    ppo: Annotated[dict[str, Any], PPO_FIELDS] = field(default_factory=dict)
    launch: TrainLaunch = field(default_factory=TrainLaunch)

    def __post_init__(self) -> None:
        if self.rl not in ("grpo", "ppo"):
            raise ValueError(f"rl must be 'grpo' or 'ppo', got {self.rl!r}")


@dataclass
class EvalSection:
    """Evaluation (paper §4) on a held-out question set.

    ``routes`` lists the student routes to evaluate (``base`` = the untrained student); valid
    names are the registered distillation routes (``tasks/stages/routes.py``), checked when the
    pipeline is planned. ``teacher`` adds the teacher single-agent and MAS (``debate`` section) reference rows.
    """

    data: DataSection = field(default_factory=lambda: DataSection(split="test", limit=200))
    routes: list[str] = field(default_factory=lambda: ["base", "rsft", "da", "pad"])
    teacher: bool = True
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int = 0
    shard_size: int = 256
    judge: ModelSection = field(default_factory=ModelSection)
    judge_sample: int | None = default_of(JudgeConfig, "sample_size")  # None judges every answer


@dataclass
class OrchestrationSection:
    """How the pipeline flow schedules stages (read by the flow, by no stage, so it never changes an
    artifact key). ``max_concurrency`` = stages running at once: independent stages (the extraction
    sets, the trainings, the evaluations) overlap up to this bound; 1 = strictly one after another.
    On one GPU with large models keep it at 1 so two model stages never share the card."""

    max_concurrency: int = 2

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency}")


@dataclass
class FanoutSection:
    """Spreading the debate stage over GPU workers (read by the pipeline flow, by no stage, so it
    never changes an artifact key): ``deployment`` = a ``debate-shard-group/<name>`` deployment;
    empty = compute the shards in this process."""

    deployment: str = ""
    shards_per_run: int = 1
    max_concurrency: int = 4

    def __post_init__(self) -> None:
        if self.shards_per_run < 1 or self.max_concurrency < 1:
            raise ValueError("shards_per_run and max_concurrency must be >= 1")


@dataclass
class Recipe:
    """A whole pipeline run. Sections are added here as stages are added.

    ``stages`` names the stages to produce; their upstream stages run (or are reused) too.
    """

    name: str = DEMO
    stages: list[str] = field(default_factory=lambda: ["label"])
    store: StoreSection = field(default_factory=StoreSection)
    data: DataSection = field(default_factory=DataSection)
    teacher: ModelSection = field(default_factory=ModelSection)
    student: ModelSection = field(default_factory=ModelSection)
    debate: DebateSection = field(default_factory=DebateSection)
    label: LabelSection = field(default_factory=LabelSection)
    extract: ExtractSection = field(default_factory=ExtractSection)
    toy: ToySection = field(default_factory=ToySection)
    train: TrainSection = field(default_factory=TrainSection)
    eval: EvalSection = field(default_factory=EvalSection)
    fanout: FanoutSection = field(default_factory=FanoutSection)
    orchestration: OrchestrationSection = field(default_factory=OrchestrationSection)


def load_recipe(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Load a YAML recipe (None = the built-in defaults, no file; the CLI's and the grid's default recipe is
    ``recipes/demo.yaml``, :data:`agentark_core.project_files.DEMO_RECIPE`) and apply ``a.b=value`` overrides.

    A file may extend another with ``base: other.yaml`` (``config_loader.load_layered``).

    Raises:
        ConfigError: unknown key, wrong type or missing field, naming the key and the file.
    """
    data = load_layered(path) if path is not None else {}  # a file's ``base:`` recipe merged under it
    data = apply_overrides(data, list(overrides))
    source = recipe_source(path, overrides)
    recipe = build(Recipe, data, source=source)
    check_plugin_names(recipe, source)
    return recipe


def recipe_source(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> str:
    """How errors name a recipe: its file, ``<default recipe>`` for none, plus ``(+ --set overrides)``."""
    source = str(path) if path is not None else "<default recipe>"
    return source if not overrides else f"{source} (+ --set overrides)"


def check_plugin_names(recipe: Recipe, source: str) -> None:
    """Registry names in the recipe (dataset, protocol, verifier, backends) must exist.

    Raises:
        ConfigError: naming the key, the bad name and the valid ones.
    """
    from agentark_core.data import DATASETS
    from agentark_core.llm import BACKENDS
    from agentark_core.mas import PROTOCOLS
    from agentark_core.verify import VERIFIERS

    checks = [("data.dataset", recipe.data.dataset, DATASETS), ("eval.data.dataset", recipe.eval.data.dataset, DATASETS),
              ("debate.protocol", recipe.debate.protocol, PROTOCOLS), ("label.verifier", recipe.label.verifier, VERIFIERS)]
    for key in ("teacher", "student", "label.model", "extract.judge", "eval.judge"):
        checks.append((f"{key}.backend", select(recipe, key).backend, BACKENDS))
    for key, name, registry in checks:
        if name not in registry and ":" not in name:
            raise ConfigError(f"{source}: {key}: unknown {registry.kind} {name!r}; valid: {', '.join(registry.names())}")


__all__ = ["ConfigError", "Recipe", "load_recipe", "recipe_source"]
