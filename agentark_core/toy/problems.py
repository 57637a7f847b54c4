"""Toy world task generator: verifiable multi-step arithmetic word problems (GSM8K stand-in, paper §4).

Each problem is a chain ``v0 op1 b1 = v1, v1 op2 b2 = v2, ...`` told as a short story
from a few templates, with a gold solution in the format the whole pipeline grades::

    Step 1: 12 + 7 = 19
    Step 2: 19 * 3 = 57
    Final Answer: 57

Every operand, intermediate and final value is a non-negative integer <= ``MAX_VALUE``
(3999) so the toy tokenizer can hold each as one token. Generation is deterministic by
``(seed, split)``. Held-out membership is a function of the chain's content hash, so a
``test`` problem can never appear in ``train``, whatever seeds or sizes are asked for.

Example:
    >>> p = generate_problems(1, "train", seed=0)[0]
    >>> p.solution.splitlines()[-1] == f"Final Answer: {p.answer}"
    True
"""

from __future__ import annotations

import hashlib
import json
import operator
import random
from dataclasses import dataclass, fields

MAX_VALUE = 3999
OPERATIONS = ("+", "-", "*", "/")
SPLITS = ("train", "test")
HELDOUT_PERCENT = 20  # share of all possible chains reserved for the test split

NAMES = ("Tom", "Anna", "Ben", "Lily", "Sam", "Mia", "Leo", "Emma")
ITEMS = ("apples", "marbles", "coins", "stickers", "books", "shells", "cards", "pencils")
START_TEMPLATES = (
    "{name} has {value} {item}.",
    "{name} starts with {value} {item}.",
    "At first {name} has {value} {item}.",
)
STEP_TEMPLATES = {
    "+": (
        "{name} buys {value} more {item}.",
        "{name} finds {value} more {item}.",
        "A friend gives {name} {value} more {item}.",
    ),
    "-": (
        "{name} gives away {value} {item}.",
        "{name} loses {value} {item}.",
        "{name} sells {value} {item}.",
    ),
    "*": ("Then {name} has {value} times as many {item}.", "The number of {item} grows {value} times."),
    "/": (
        "{name} splits the {item} into {value} equal groups and keeps one group.",
        "{name} shares the {item} equally among {value} kids and keeps one share.",
    ),
}
QUESTION_TEMPLATES = ("How many {item} does {name} have now?", "How many {item} does {name} have at the end?")
DISTRACTOR_TEMPLATES = (
    "{other} has {value} {item}.",
    "{name} also owns {value} {other_item}.",
    "The shop sells {value} {other_item} every day.",
)
TEMPLATES: tuple[str, ...] = (
    *START_TEMPLATES,
    *(t for ts in STEP_TEMPLATES.values() for t in ts),
    *QUESTION_TEMPLATES,
    *DISTRACTOR_TEMPLATES,
    "Step {k}: {a} {op} {b} = {c}",
    "Final Answer: {answer}",
)

Step = tuple[int, str, int, int]  # (a, op, b, a op b)
_FUNCTIONS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.floordiv}


def _as_range(value: int | tuple[int, int] | list[int], name: str) -> tuple[int, int]:
    """``3 -> (3, 3)``; a 2-sequence -> an ordered tuple, validated."""
    lo, hi = (value, value) if isinstance(value, int) else tuple(value)
    if not 0 <= lo <= hi:
        raise ValueError(f"{name} must be an int or a (low, high) range with 0 <= low <= high, got {value!r}")
    return lo, hi


@dataclass(frozen=True)
class ToyConfig:
    """Difficulty knobs of the toy world.

    Attributes:
        n_steps: number of arithmetic steps (an int or an inclusive ``(low, high)`` range).
        number_range: range of the start value and of ``+``/``-`` operands.
        factor_range: range of ``*``/``/`` operands.
        operations: which of ``+ - * /`` may appear (``/`` only when it divides exactly).
        distractors: number of irrelevant sentences with numbers inserted into the story.
    """

    n_steps: tuple[int, int] = (2, 4)
    number_range: tuple[int, int] = (1, 50)
    factor_range: tuple[int, int] = (2, 9)
    operations: tuple[str, ...] = OPERATIONS
    distractors: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        for name in ("n_steps", "number_range", "factor_range", "distractors"):
            object.__setattr__(self, name, _as_range(getattr(self, name), name))
        object.__setattr__(self, "operations", tuple(self.operations))
        if self.n_steps[0] < 1:
            raise ValueError(f"n_steps must be >= 1, got {self.n_steps}")
        if self.number_range[1] > MAX_VALUE or self.factor_range[1] > MAX_VALUE:
            raise ValueError(f"number_range and factor_range must stay <= {MAX_VALUE}")
        bad = [op for op in self.operations if op not in OPERATIONS]
        if bad or not self.operations:
            raise ValueError(f"operations must be a non-empty subset of {OPERATIONS}, got {self.operations}")

    @classmethod
    def from_options(cls, **options) -> ToyConfig:
        """Build from keyword options, naming the valid knobs when one is unknown."""
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - valid)
        if unknown:
            raise TypeError(f"unknown toy option(s) {unknown}; valid: {sorted(valid)}")
        return cls(**options)


@dataclass(frozen=True)
class ToyProblem:
    """One generated problem: the story text and its arithmetic chain."""

    text: str
    steps: tuple[Step, ...]

    @property
    def answer(self) -> int:
        return self.steps[-1][3]

    @property
    def solution(self) -> str:
        """The gold step-by-step solution ending in ``Final Answer: N``."""
        lines = [f"Step {k}: {a} {op} {b} = {c}" for k, (a, op, b, c) in enumerate(self.steps, 1)]
        return "\n".join([*lines, f"Final Answer: {self.answer}"])

    @property
    def content_hash(self) -> str:
        return chain_hash(self.steps)


def chain_hash(steps: tuple[Step, ...]) -> str:
    """Content hash of an arithmetic chain (the wording does not matter: same chain, same problem)."""
    return hashlib.sha256(json.dumps(list(steps)).encode()).hexdigest()


def is_heldout(content_hash: str) -> bool:
    """Whether a chain belongs to the held-out (test) split; fixed by its hash alone."""
    return int(content_hash[:8], 16) % 100 < HELDOUT_PERCENT


def compute(a: int, op: str, b: int) -> int:
    """``a op b`` for the four toy operations (``/`` is integer division; the generator keeps it exact)."""
    return _FUNCTIONS[op](a, b)


def _operand(rng: random.Random, op: str, value: int, config: ToyConfig) -> int | None:
    """A random operand keeping ``value op b`` a non-negative integer <= MAX_VALUE, or None if none does."""
    lo, hi = config.number_range
    f_lo, f_hi = config.factor_range
    if op == "+":
        hi = min(hi, MAX_VALUE - value)
    elif op == "-":
        hi = min(hi, value)
    elif op == "*":  # never multiply 0: the step would say nothing
        lo, hi = f_lo, (min(f_hi, MAX_VALUE // value) if value else -1)
    else:
        divisors = [d for d in range(max(f_lo, 1), f_hi + 1) if value and value % d == 0]
        return rng.choice(divisors) if divisors else None
    return rng.randint(lo, hi) if lo <= hi else None


def _draw_chain(rng: random.Random, config: ToyConfig) -> tuple[Step, ...] | None:
    """A random chain of ``n_steps`` feasible steps, or None when the walk gets stuck."""
    value = rng.randint(*config.number_range)
    steps: list[Step] = []
    for _ in range(rng.randint(*config.n_steps)):
        ops = list(config.operations)
        rng.shuffle(ops)
        for op in ops:
            b = _operand(rng, op, value, config)
            if b is not None:
                break
        else:
            return None
        steps.append((value, op, b, compute(value, op, b)))
        value = steps[-1][3]
    return tuple(steps)


def _render(rng: random.Random, steps: tuple[Step, ...], config: ToyConfig) -> str:
    """The story: start sentence, one sentence per step, distractors in between, the question."""
    name, other = rng.sample(NAMES, 2)
    item, other_item = rng.sample(ITEMS, 2)
    sentences = [rng.choice(START_TEMPLATES).format(name=name, value=steps[0][0], item=item)]
    sentences += [
        rng.choice(STEP_TEMPLATES[op]).format(name=name, value=b, item=item) for _, op, b, _ in steps
    ]
    for _ in range(rng.randint(*config.distractors)):
        template = rng.choice(DISTRACTOR_TEMPLATES)
        value = rng.randint(*config.number_range)
        sentence = template.format(name=name, other=other, item=item, other_item=other_item, value=value)
        sentences.insert(rng.randint(1, len(sentences)), sentence)
    sentences.append(rng.choice(QUESTION_TEMPLATES).format(name=name, item=item))
    return " ".join(sentences)


def generate_problems(n: int, split: str, seed: int = 0, config: ToyConfig | None = None) -> list[ToyProblem]:
    """Generate ``n`` distinct problems of one split, deterministically.

    Args:
        n: number of problems.
        split: ``train`` or ``test``; a chain's split is fixed by its content hash, so splits never overlap.
        seed: generation seed; the same ``(n, split, seed, config)`` always gives the same problems, and a
            larger ``n`` extends a smaller one's list.
        config: difficulty knobs (default :class:`ToyConfig`).

    Returns:
        ``n`` problems with pairwise distinct arithmetic chains.
    """
    if split not in SPLITS:
        raise ValueError(f"toy split must be one of {SPLITS}, got {split!r}")
    config = config or ToyConfig()
    rng = random.Random(f"toy:{seed}:{split}")
    heldout = split == "test"
    seen: set[str] = set()
    problems: list[ToyProblem] = []
    for _ in range(100 * n + 1000):
        if len(problems) == n:
            break
        steps = _draw_chain(rng, config)
        if steps is None or is_heldout(key := chain_hash(steps)) != heldout or key in seen:
            continue
        seen.add(key)
        problems.append(ToyProblem(_render(rng, steps, config), steps))
    if len(problems) < n:
        raise ValueError(
            f"only {len(problems)} distinct toy {split} problems of {n} found with {config}; "
            "widen number_range/n_steps or allow more operations"
        )
    return problems
