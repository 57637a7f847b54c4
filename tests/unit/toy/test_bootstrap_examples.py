"""Toy teacher training examples: corrupted solutions are wrong, debate examples mix right and wrong peers."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from agentark_core.answers import grade
from agentark_core.mas import prompts
from agentark_core.toy.problems import MAX_VALUE, ToyConfig, generate_problems
from agentark_core.toy.revision import (
    CORRUPTIONS,
    ExampleMix,
    build_examples,
    corrupt_solution,
    flatten_chat,
    toy_question,
)
from agentark_core.toy.tokenizer import build_toy_tokenizer

SOLUTION = re.compile(r"^(Step \d+: \d+ [-+*/] \d+ = \d+\n)+Final Answer: \d+$")
PEERS = re.compile(r"Agent (\d+): (.*?)(?=\n\nAgent \d+: |\n\nUsing the reasoning)", re.DOTALL)
AGGREGATED = re.compile(r"Agent (\d+): (.*?)(?=\n\nAgent \d+: |\n\nSummarise)", re.DOTALL)


@pytest.fixture(scope="module")
def problems():
    return generate_problems(60, "train", seed=3, config=ToyConfig(n_steps=(1, 5)))


@pytest.mark.parametrize("kind", [*CORRUPTIONS, None])
def test_corrupted_solutions_are_wrong_and_well_formed(problems, kind):
    rng = random.Random(0)
    for p in problems:
        text = corrupt_solution(p, rng, kind)
        assert SOLUTION.match(text), text
        assert grade(text, str(p.answer), "math").status == "incorrect", (p.solution, text)
        assert all(0 <= int(n) <= MAX_VALUE for n in re.findall(r"\d+", text))


def test_slip_keeps_later_arithmetic_consistent(problems):
    rng = random.Random(1)
    multi = [p for p in problems if len(p.steps) >= 3]
    for p in multi:
        lines = corrupt_solution(p, rng, "slip").splitlines()[:-1]
        values = [tuple(re.findall(r"\d+", line)[1:]) for line in lines]
        wrong = [i for i, (a, b, c) in enumerate(values) if p.steps[i][3] != int(c)]
        assert wrong, "a slip changes at least one result"
        for (_, _, c_prev), (a, _, _) in itertools.pairwise(values):
            assert a == c_prev  # each step starts from the previous (possibly wrong) result


def test_unknown_corruption_is_named(problems):
    with pytest.raises(ValueError, match="valid"):
        corrupt_solution(problems[0], random.Random(0), "typo")


def test_revision_examples_have_peers_some_wrong_and_a_gold_target(problems):
    mix = ExampleMix(single=0, revision=2, aggregate=0, n_agents=5, p_correct=0.6)
    rows = build_examples(problems, mix, seed=0)
    gold = {toy_question(p).question_id: p for p in problems}
    assert len(rows) == 2 * len(problems) and {r["kind"] for r in rows} == {"revision"}
    for row in rows:
        p = gold[row["question_id"]]
        first, own, update = row["messages"]
        assert (first["role"], own["role"], update["role"]) == ("user", "assistant", "user")
        assert first["content"] == prompts.first_prompt(toy_question(p))
        peers = PEERS.findall(update["content"])
        assert len(peers) == 4 and len({a for a, _ in peers}) == 4
        assert update["content"] == prompts.debate_update(toy_question(p), [(int(a), r) for a, r in peers])
        answers = [own["content"], *(r for _, r in peers)]
        verdicts = [grade(a, str(p.answer), "math").correct for a in answers]
        assert not all(verdicts), "every revision example has at least one wrong answer"
        assert f"{row['reasoning']}\n{row['answer']}" == p.solution
        assert grade(row["answer"], str(p.answer), "math").correct


def test_aggregate_and_single_prompts_use_the_mas_formatters(problems):
    rows = build_examples(problems[:10], ExampleMix(single=1, revision=0, aggregate=1), seed=0)
    by_kind = {k: [r for r in rows if r["kind"] == k] for k in ("single", "aggregate")}
    assert len(by_kind["single"]) == len(by_kind["aggregate"]) == 10
    gold = {toy_question(p).question_id: p for p in problems}
    for row in by_kind["single"]:
        assert row["messages"] == ({"role": "user", "content": prompts.first_prompt(toy_question(gold[row["question_id"]]))},)
    for row in by_kind["aggregate"]:
        content = row["messages"][0]["content"]
        assert content.startswith(gold[row["question_id"]].text)
        assert "from 5 agents" in content and content.count("Final Answer:") >= 5


def test_example_builder_is_deterministic_by_seed(problems):
    mix = ExampleMix(single=1, revision=1, aggregate=1)
    a, b = build_examples(problems, mix, seed=7), build_examples(problems, mix, seed=7)
    assert a == b
    assert a != build_examples(problems, mix, seed=8)
    assert len({r["example_id"] for r in a}) == len(a)


def test_mix_validation():
    with pytest.raises(ValueError, match="n_agents"):
        ExampleMix(n_agents=1)
    with pytest.raises(ValueError, match="p_correct"):
        ExampleMix(p_correct=1.5)
    with pytest.raises(ValueError, match="revision"):
        ExampleMix(revision=-1)


def test_flattened_debate_chat_renders_exactly_like_the_debate(problems):
    tok = build_toy_tokenizer()
    row = build_examples(problems[:1], ExampleMix(single=0, revision=1), seed=0)[0]
    flat = flatten_chat(tok, row["messages"])
    as_one_turn = tok.apply_chat_template([{"role": "user", "content": flat}], tokenize=False, add_generation_prompt=True)
    as_debate = tok.apply_chat_template(list(row["messages"]), tokenize=False, add_generation_prompt=True)
    assert as_one_turn == as_debate
    assert tok(as_one_turn, add_special_tokens=False).input_ids == tok(as_debate, add_special_tokens=False).input_ids


def test_sampled_answers_replace_simulated_ones_and_need_a_wrong_one(problems):
    right, wrong = problems[0], problems[1]
    gold_right, gold_wrong = toy_question(right).question_id, toy_question(wrong).question_id
    bad = corrupt_solution(wrong, random.Random(0), "final")
    sampled = {gold_right: [right.solution] * 5, gold_wrong: [bad, wrong.solution, bad, "no idea", wrong.solution]}
    rows = build_examples([right, wrong], ExampleMix(single=0, revision=1, aggregate=1), seed=0, sampled=sampled)
    kinds = sorted((r["question_id"] == gold_wrong, r["kind"]) for r in rows)
    assert kinds == [(False, "aggregate"), (True, "aggregate"), (True, "revision")]  # all-right: no revision row
    revision = next(r for r in rows if r["kind"] == "revision")
    shown = [revision["messages"][1]["content"], *(r for _, r in PEERS.findall(revision["messages"][2]["content"]))]
    assert sorted(shown) == sorted(sampled[gold_wrong])


def _shown_answers(row: dict) -> list[str]:
    """The agent answers a revision or aggregate example shows (own + peers, or the aggregated ones)."""
    if row["kind"] == "revision":
        return [row["messages"][1]["content"], *(r for _, r in PEERS.findall(row["messages"][2]["content"]))]
    return [r for _, r in AGGREGATED.findall(row["messages"][0]["content"])]


def test_plurality_targets_keep_only_debate_rows_whose_gold_is_the_plurality(problems):
    # p_correct 0.35: without the filter many rows show a wrong plurality (two agents on one wrong answer)
    loose, strict = (
        build_examples(problems, ExampleMix(single=0, revision=2, aggregate=2, p_correct=0.35, plurality_targets=flag))
        for flag in (False, True)
    )

    def gold_leads(row: dict) -> bool:
        gold = next(p for p in problems if toy_question(p).question_id == row["question_id"]).answer
        finals = [re.search(r"Final Answer: (\d+)", a).group(1) for a in _shown_answers(row)]
        counts = {v: finals.count(v) for v in finals}
        return counts.get(str(gold), 0) > max((c for v, c in counts.items() if v != str(gold)), default=0)

    assert len(_shown_answers(strict[0])) == 5
    assert all(gold_leads(r) for r in strict)
    assert not all(gold_leads(r) for r in loose)  # the filter has something to remove
    assert {r["kind"] for r in strict} == {"revision", "aggregate"}


def test_plurality_targets_skip_sampled_answers_with_a_wrong_plurality(problems):
    p = problems[1]
    bad = corrupt_solution(p, random.Random(0), "final")
    qid = toy_question(p).question_id
    wrong_leads = {qid: [bad, bad, bad, p.solution, p.solution]}
    gold_leads = {qid: [bad, bad, p.solution, p.solution, p.solution]}
    mix = ExampleMix(single=0, revision=1, aggregate=1, plurality_targets=True)
    assert build_examples([p], mix, seed=0, sampled=wrong_leads) == []
    assert sorted(r["kind"] for r in build_examples([p], mix, seed=0, sampled=gold_leads)) == ["aggregate", "revision"]
