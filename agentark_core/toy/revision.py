"""Toy-world training examples for a teacher that debates usefully (paper §3.2; the toy world).

Debate only beats one agent if round k > 1 revises towards the right answer. The toy
teacher learns that from three kinds of supervised examples, all built with the exact
prompt formatters of ``agentark_core.mas.prompts`` so training and debate see the same text:

- ``single``: the round-1 prompt -> the gold solution;
- ``revision``: the round-k chat of ``mas/debate.py`` (problem, the agent's own previous
  answer, its peers' answers, some of them wrong) -> the gold solution;
- ``aggregate``: the aggregator prompt over n final solutions, some wrong -> the gold solution.

Wrong answers are gold solutions corrupted the way a small model errs: an arithmetic slip
in one step carried through the later steps, a misread operand carried through, or a wrong
final line. The number of wrong answers in a debate example is drawn like a round of agents
who are each right with probability ``p_correct``, so most examples reward siding with the
(re-checkable) majority while a few require solving from scratch. Alternatively the answers
are a model's own samples (``sampled``: on-policy debate data, the errors it really makes).

Example:
    >>> rows = build_examples(generate_problems(4, "train"), ExampleMix(), seed=0)  # doctest: +SKIP
    >>> sorted({r["kind"] for r in rows})                                            # doctest: +SKIP
    ['aggregate', 'revision', 'single']
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agentark_core.data.question import Question
from agentark_core.mas import prompts
from agentark_core.toy.problems import MAX_VALUE, Step, ToyProblem, compute

KINDS = ("single", "revision", "aggregate")
CORRUPTIONS = ("slip", "operand", "final")
_ATTEMPTS = 50


@dataclass(frozen=True)
class ExampleMix:
    """How many examples of each kind to build per training problem, and how wrong the peers are.

    Attributes:
        single: round-1 examples per problem.
        revision: round-k revision examples per problem.
        aggregate: aggregator examples per problem.
        n_agents: agents in a debate example (the agent itself + n - 1 peers).
        p_correct: chance that each simulated agent answer is right.
        plurality_targets: keep only debate examples (revision, aggregate) in which the gold answer is
            the strict plurality of the shown answers, so their target (the gold solution) always
            agrees with the most common answer: a tiny model learns one rule, side with the plurality,
            instead of a mix of siding and solving from scratch in a long prompt.
    """

    single: int = 1
    revision: int = 1
    aggregate: int = 0
    n_agents: int = 5
    p_correct: float = 0.55
    plurality_targets: bool = False

    def __post_init__(self) -> None:
        for name in ("single", "revision", "aggregate"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"ExampleMix.{name} must be an int >= 0, got {value!r}")
        if self.n_agents < 2:
            raise ValueError(f"ExampleMix.n_agents must be >= 2 (debate needs peers), got {self.n_agents}")
        if not 0.0 <= self.p_correct <= 1.0:
            raise ValueError(f"ExampleMix.p_correct must lie in [0, 1], got {self.p_correct}")


def render_solution(steps: Sequence[Step], final: int) -> str:
    """``Step k: a op b = c`` lines and ``Final Answer: final`` (the gold format of toy/problems.py)."""
    lines = [f"Step {k}: {a} {op} {b} = {c}" for k, (a, op, b, c) in enumerate(steps, 1)]
    return "\n".join([*lines, f"Final Answer: {final}"])


def _carry(steps: Sequence[Step], start: int, value: int, first_b: int | None = None) -> list[Step] | None:
    """Recompute steps ``start..`` from ``value`` (correct arithmetic on a wrong input); None if out of range."""
    out = []
    for j, (_, op, b, _) in enumerate(steps[start:]):
        b = first_b if j == 0 and first_b is not None else b
        if op == "/" and b == 0:
            return None
        c = compute(value, op, b)
        if not 0 <= c <= MAX_VALUE:
            return None
        out.append((value, op, b, c))
        value = c
    return out


def _try_corrupt(steps: tuple[Step, ...], kind: str, rng: random.Random) -> str | None:
    """One attempt at a wrong solution of ``kind``; None when it went out of range or stayed right."""
    gold = steps[-1][3]
    j = rng.randrange(len(steps))
    delta = rng.choice([-1, 1]) * rng.choice([1, 1, 2, 3, 10, rng.randint(4, 20)])
    if kind == "final":
        new, final = list(steps), gold + delta
    elif kind == "slip":  # step j's result is off, later steps compute on from it
        a, op, b, c = steps[j]
        if not 0 <= c + delta <= MAX_VALUE:
            return None
        rest = _carry(steps, j + 1, c + delta)
        new = None if rest is None else [*steps[:j], (a, op, b, c + delta), *rest]
        final = new[-1][3] if new else gold
    else:  # "operand": step j uses a misread operand, computed correctly and carried on
        a, op, b, _ = steps[j]
        b2 = b + delta if op in "+-" else rng.choice([x for x in range(2, 10) if x != b])
        if b2 < 0 or (op == "/" and a % b2):
            return None
        rest = _carry(steps, j, a, first_b=b2)
        new = None if rest is None else [*steps[:j], *rest]
        final = new[-1][3] if new else gold
    if new is None or final == gold or not 0 <= final <= MAX_VALUE:
        return None
    return render_solution(new, final)


def corrupt_solution(problem: ToyProblem, rng: random.Random, kind: str | None = None) -> str:
    """A wrong solution of ``problem`` in the gold format (its final answer differs from the gold one).

    Args:
        problem: the toy problem.
        rng: random source (the caller's, for determinism).
        kind: one of ``CORRUPTIONS``; None picks one at random per attempt.

    Returns:
        Solution text whose ``Final Answer`` is not the problem's answer.
    """
    if kind is not None and kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; valid: {list(CORRUPTIONS)}")
    for _ in range(_ATTEMPTS):
        text = _try_corrupt(problem.steps, kind or rng.choice(CORRUPTIONS), rng)
        if text is not None:
            return text
    gold = problem.answer  # a wrong final line always exists: gold +- 1 stays in [0, MAX_VALUE]
    return render_solution(problem.steps, gold + 1 if gold < MAX_VALUE else gold - 1)


def toy_question(problem: ToyProblem, split: str = "train") -> Question:
    """The ``Question`` record of a problem, exactly as ``load_questions("toy", ...)`` builds it."""
    return Question("toy", split, "math", problem.text, str(problem.answer), gold_reasoning=problem.solution)


def _answers(
    problem: ToyProblem, mix: ExampleMix, rng: random.Random, min_wrong: int, sampled: Sequence[str] | None
) -> list[str] | None:
    """``mix.n_agents`` agent answers, shuffled: the ``sampled`` ones when given (None if fewer than
    ``min_wrong`` of them are wrong), else simulated ones, each right with ``p_correct``, >= ``min_wrong`` wrong.
    With ``mix.plurality_targets``, None also when the gold answer is not their strict plurality (simulated
    answers are redrawn up to ``_ATTEMPTS`` times first)."""
    if sampled is not None:
        from agentark_core.answers import grade

        n_wrong = sum(not grade(a, str(problem.answer), "math").correct for a in sampled)
        answers = rng.sample(list(sampled), len(sampled)) if n_wrong >= min_wrong else None
        return answers if answers is None or _target_agrees(answers, problem, mix) else None
    n = mix.n_agents
    for _ in range(_ATTEMPTS):
        n_wrong = max(min_wrong, sum(rng.random() >= mix.p_correct for _ in range(n)))
        answers = [corrupt_solution(problem, rng) for _ in range(n_wrong)] + [problem.solution] * (n - n_wrong)
        rng.shuffle(answers)
        if _target_agrees(answers, problem, mix):
            return answers
    return None


def _target_agrees(answers: Sequence[str], problem: ToyProblem, mix: ExampleMix) -> bool:
    """True unless ``mix.plurality_targets`` asks for the gold answer to be the strict plurality and it is not."""
    if not mix.plurality_targets:
        return True
    from agentark_core.answers import extract_answer, grade

    gold = str(problem.answer)
    right = sum(grade(a, gold, "math").correct for a in answers)
    wrong = Counter(
        extract_answer(a, "math") for a in answers if not grade(a, gold, "math").correct
    )  # unparseable answers (None) count as one more "answer" of their own
    return right > max(wrong.values(), default=0)


def _row(problem: ToyProblem, kind: str, index: int, messages: tuple[dict, ...]) -> dict:
    question = toy_question(problem)
    reasoning, answer = problem.solution.rsplit("\n", 1)
    digest = hashlib.sha256(f"{question.question_id}:{kind}:{index}".encode()).hexdigest()[:16]
    return {
        "example_id": digest, "question_id": question.question_id, "kind": kind,
        "messages": messages, "reasoning": reasoning, "answer": answer, "weight": 1.0, "group_size": 1,
    }


def debate_messages(question: Question, own: str, peers: Sequence[tuple[int, str]]) -> tuple[dict, ...]:
    """The round-k>1 chat of ``mas/debate.py``: problem, own last answer (assistant turn), peers' answers."""
    return (
        {"role": "user", "content": prompts.first_prompt(question, with_context=False)},
        {"role": "assistant", "content": own},
        {"role": "user", "content": prompts.debate_update(question, peers)},
    )


def problem_examples(
    problem: ToyProblem, mix: ExampleMix, rng: random.Random, sampled: Sequence[str] | None = None
) -> list[dict]:
    """All examples of one problem: ``mix.single`` + ``mix.revision`` + ``mix.aggregate`` rows.

    Args:
        problem: the toy problem.
        mix: how many rows of each kind.
        rng: random source.
        sampled: real round-1 answers of ``mix.n_agents`` agents (on-policy debate data); None
            simulates them. With real answers, revision rows need at least one wrong answer
            and are skipped otherwise.

    Returns:
        Rows with ``example_id, question_id, kind, messages, reasoning, answer, weight, group_size``;
        ``reasoning`` + ``"\\n"`` + ``answer`` is always the gold solution.
    """
    question = toy_question(problem)
    rows = [
        _row(problem, "single", i, ({"role": "user", "content": prompts.first_prompt(question)},))
        for i in range(mix.single)
    ]
    for i in range(mix.revision):
        answers = _answers(problem, mix, rng, 1, sampled)
        if answers is None:
            continue
        me = rng.randrange(len(answers))
        peers = [(a, text) for a, text in enumerate(answers) if a != me]
        rows.append(_row(problem, "revision", i, debate_messages(question, answers[me], peers)))
    for i in range(mix.aggregate):
        answers = _answers(problem, mix, rng, 0, sampled)
        if answers is None:
            continue
        content = prompts.aggregate(question, list(enumerate(answers)))
        rows.append(_row(problem, "aggregate", i, ({"role": "user", "content": content},)))
    return rows


def build_examples(
    problems: Sequence[ToyProblem],
    mix: ExampleMix,
    seed: int = 0,
    sampled: Mapping[str, Sequence[str]] | None = None,
) -> list[dict]:
    """Training examples of every problem, shuffled; the same arguments always give the same rows.

    Args:
        problems: training problems.
        mix: examples per problem.
        seed: shuffling / simulation seed.
        sampled: ``question_id -> real agent answers`` for problems whose debate rows should use a
            model's own answers (see :func:`problem_examples`); other problems get simulated ones.
    """
    rng = random.Random(f"toy-examples:{seed}")
    sampled = sampled or {}
    rows = [
        row for p in problems
        for row in problem_examples(p, mix, rng, sampled.get(toy_question(p).question_id))
    ]
    rng.shuffle(rows)
    return rows


def flatten_chat(tokenizer, messages: Sequence[dict]) -> str:
    """One user-turn ``prompt`` whose chat rendering equals ``messages``' rendering, for ``train_sft``.

    ``train_sft`` renders each example as one user turn; a multi-turn debate chat is carried
    in that turn's content (the earlier turns with their chat markers), checked to render
    to exactly the text the debate sends the model.

    Raises:
        ValueError: when the tokenizer's chat template cannot render the chat that way.
    """
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    target = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    marker = "\x00"
    shell = tokenizer.apply_chat_template(
        [{"role": "user", "content": marker}], tokenize=False, add_generation_prompt=True
    )
    head, tail = shell.split(marker)
    if not (target.startswith(head) and target.endswith(tail)):
        raise ValueError("the chat template does not render a multi-turn chat as one user turn")
    content = target[len(head): len(target) - len(tail)]
    if tokenizer.apply_chat_template(
        [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
    ) != target:
        raise ValueError("flattened chat renders differently from the multi-turn chat")
    return content
