"""Toy world generator: determinism, disjoint splits, correct gold arithmetic, difficulty knobs."""

from __future__ import annotations

import re
from statistics import mean

import pytest

from agentark_core.toy.problems import MAX_VALUE, ToyConfig, generate_problems, is_heldout

STEP_LINE = re.compile(r"^Step (\d+): (\d+) ([-+*/]) (\d+) = (\d+)$")


def check_solution(solution: str) -> tuple[list[tuple[int, str, int, int]], int]:
    """Parse and re-verify a gold solution independently of the generator; returns (steps, final)."""
    *step_lines, final_line = solution.split("\n")
    final = re.fullmatch(r"Final Answer: (\d+)", final_line)
    assert final, final_line
    steps = []
    for k, line in enumerate(step_lines, 1):
        match = STEP_LINE.match(line)
        assert match, line
        number, a, op, b, c = match.groups()
        a, b, c = int(a), int(b), int(c)
        assert int(number) == k
        if op == "/":
            assert b > 0 and a % b == 0, line
        expected = {"+": a + b, "-": a - b, "*": a * b, "/": a // b if b else None}[op]
        assert c == expected, line
        assert all(0 <= v <= MAX_VALUE for v in (a, b, c)), line
        if steps:
            assert a == steps[-1][3], "each step must start from the previous result"
        steps.append((a, op, b, c))
    assert steps and int(final.group(1)) == steps[-1][3]
    return steps, int(final.group(1))


def test_same_seed_same_problems_and_longer_lists_extend_shorter():
    first = generate_problems(40, "train", seed=7)
    assert first == generate_problems(40, "train", seed=7)
    assert generate_problems(60, "train", seed=7)[:40] == first
    assert first != generate_problems(40, "train", seed=8)


def test_train_and_heldout_never_share_a_problem():
    train = generate_problems(1500, "train", seed=0)
    test = generate_problems(300, "test", seed=0) + generate_problems(300, "test", seed=1)
    train_hashes = {p.content_hash for p in train}
    assert len(train_hashes) == len(train)
    assert train_hashes.isdisjoint(p.content_hash for p in test)
    assert not any(is_heldout(h) for h in train_hashes)
    assert all(is_heldout(p.content_hash) for p in test)


@pytest.mark.parametrize(
    "config", [ToyConfig(), ToyConfig(n_steps=(1, 6), number_range=(0, 3999), distractors=2)]
)
def test_every_gold_solution_is_correct_and_matches_the_story(config):
    for problem in generate_problems(200, "train", seed=11, config=config):
        steps, final = check_solution(problem.solution)
        assert final == problem.answer
        assert tuple(steps) == problem.steps
        story_numbers = [int(n) for n in re.findall(r"\d+", problem.text)]
        operands = [steps[0][0]] + [b for _, _, b, _ in steps]
        assert all(n <= MAX_VALUE for n in story_numbers)
        remaining = list(story_numbers)
        for operand in operands:  # every operand is told in the story, in order, among distractor numbers
            assert operand in remaining, (operand, problem.text)
            remaining = remaining[remaining.index(operand) + 1 :]
        assert problem.text.endswith("?")


def test_knobs_change_difficulty():
    def steps_of(**knobs):
        return [len(p.steps) for p in generate_problems(100, "train", seed=2, config=ToyConfig(**knobs))]

    assert set(steps_of(n_steps=1)) == {1}
    assert set(steps_of(n_steps=(5, 6))) == {5, 6}
    assert mean(steps_of(n_steps=(4, 6))) > mean(steps_of(n_steps=(1, 2)))
    plus_only = generate_problems(
        50, "train", seed=2, config=ToyConfig(operations=("+",), number_range=(1, 9))
    )
    assert {op for p in plus_only for _, op, _, _ in p.steps} == {"+"}
    assert all(1 <= p.steps[0][0] <= 9 for p in plus_only)
    plain = generate_problems(30, "train", seed=4, config=ToyConfig(n_steps=2))
    noisy = generate_problems(30, "train", seed=4, config=ToyConfig(n_steps=2, distractors=3))
    sentence_counts = [{p.text.count(".") + p.text.count("?") for p in ps} for ps in (plain, noisy)]
    assert sentence_counts == [{4}, {7}]  # start + 2 steps + question, plus 3 distractors


def test_bad_configs_and_exhausted_spaces_fail_clearly():
    with pytest.raises(ValueError, match="operations"):
        ToyConfig(operations=("^",))
    with pytest.raises(ValueError, match="n_steps"):
        ToyConfig(n_steps=0)
    with pytest.raises(ValueError, match="low <= high"):
        ToyConfig(number_range=(9, 1))
    with pytest.raises(ValueError, match="split"):
        generate_problems(3, "dev")
    tiny_space = ToyConfig(n_steps=1, number_range=(1, 2), operations=("+",))
    with pytest.raises(ValueError, match="distinct toy train problems"):
        generate_problems(10, "train", config=tiny_space)
