"""LLM judge: strict reply parsing, re-asking only invalid items, invalid items counted not scored."""

import json

import pytest

from agentark_core.evaluate.judge import (
    CRITERIA,
    InvalidJudgeReply,
    JudgeConfig,
    JudgeItem,
    judge_reasoning,
    parse_judge_reply,
    sample_items,
)
from agentark_core.llm.scripted import ScriptedGenerator

GOOD = {
    "step_decomposition": 4,
    "intermediate_verification": 3,
    "error_localisation": 2,
    "reasoning_coherence": 5,
}


def reply(**changes) -> str:
    return json.dumps({**GOOD, **changes})


def test_parses_bare_and_fenced_json():
    assert parse_judge_reply(reply()) == GOOD
    assert parse_judge_reply(f"```json\n{reply()}\n```") == GOOD
    assert parse_judge_reply(f"  ```\n{reply()}\n```\n") == GOOD


@pytest.mark.parametrize(
    "text, reason",
    [
        (json.dumps({k: v for k, v in GOOD.items() if k != "error_localisation"}), "missing keys"),
        (reply(reasoning_coherence=6), "in 1-5"),
        (reply(step_decomposition=0), "in 1-5"),
        (reply(step_decomposition=4.0), "must be an integer"),
        (reply(step_decomposition="4"), "must be an integer"),
        (reply(step_decomposition=True), "must be an integer"),
        (reply(comment="nice"), "unexpected keys"),
        ("The solution is well structured, I would give it a 4.", "not a JSON object"),
        (f"Here are my scores: {reply()}", "not a JSON object"),
        (f"{reply()}\nHope this helps!", "not a JSON object"),
        (f"```json\n{reply()}\n```\nExplanation: fine", "not a JSON object"),
        ("[4, 3, 2, 5]", "expected a JSON object"),
        ("", "not a JSON object"),
    ],
)
def test_rejects_malformed_replies(text, reason):
    with pytest.raises(InvalidJudgeReply, match=reason):
        parse_judge_reply(text)


def _items(n):
    return [JudgeItem(f"q{i}", f"problem {i}", f"solution {i}") for i in range(n)]


def test_retries_reask_only_invalid_items_in_one_batch():
    # call 0: q1 prose, q2 out of range; call 1: q1 fixed, q2 still bad; call 2: q2 missing key
    script = {
        (0, "solution 0"): reply(),
        (0, "solution 1"): "Looks good to me.",
        (0, "solution 2"): reply(error_localisation=9),
        (1, "solution 1"): reply(step_decomposition=1),
        (1, "solution 2"): reply(step_decomposition=7),
        (2, "solution 2"): json.dumps({"step_decomposition": 3}),
    }

    def answer(request, call_index):
        solution = next(
            s for s in ("solution 0", "solution 1", "solution 2") if s in request.messages[0]["content"]
        )
        return script[(call_index, solution)]

    gen = ScriptedGenerator(answer)
    result = judge_reasoning(_items(3), gen, JudgeConfig(sample_size=None, max_retries=2))
    assert [len(batch) for batch in gen.calls] == [3, 2, 1]
    retried = gen.calls[1][0].messages
    assert [m["role"] for m in retried] == ["user", "assistant", "user"]
    assert retried[1]["content"] == "Looks good to me." and "not a JSON object" in retried[2]["content"]
    assert result.scores == {"q0": GOOD, "q1": {**GOOD, "step_decomposition": 1}}
    assert result.n_invalid == 1 and "missing keys" in result.invalid["q2"]
    assert result.calls == 3 and result.n_judged == 3
    assert result.means["step_decomposition"] == pytest.approx((4 + 1) / 2)
    assert result.means["reasoning_coherence"] == pytest.approx(5.0)


def test_no_retries_counts_invalid_and_never_scores_it():
    gen = ScriptedGenerator([reply(), "nope"])
    result = judge_reasoning(_items(2), gen, JudgeConfig(max_retries=0))
    assert len(gen.calls) == 1
    assert set(result.scores) == {"q0"} and set(result.invalid) == {"q1"}
    assert result.means == {k: float(GOOD[k]) for k in CRITERIA}


def test_all_invalid_gives_no_means():
    result = judge_reasoning(_items(1), ScriptedGenerator(["x", "y"]), JudgeConfig(max_retries=1))
    assert result.scores == {} and result.n_invalid == 1
    assert all(v is None for v in result.means.values())


def test_sampling_is_seeded_and_sized():
    items = _items(50)
    a = sample_items(items, 10, seed=3)
    assert len(a) == 10 and a == sample_items(items, 10, seed=3)
    assert a != sample_items(items, 10, seed=4)
    assert [items.index(x) for x in a] == sorted(items.index(x) for x in a)
    assert sample_items(items, 100, seed=0) == items
    gen = ScriptedGenerator(lambda request, call_index: reply())
    result = judge_reasoning(items, gen, JudgeConfig(sample_size=10, seed=3))
    assert len(gen.calls[0]) == 10 and set(result.scores) == {x.item_id for x in a}


def test_duplicate_ids_and_bad_config_fail():
    with pytest.raises(ValueError, match="duplicate judge item_id"):
        judge_reasoning(_items(1) * 2, ScriptedGenerator([reply()]))
    with pytest.raises(ValueError, match="sample_size"):
        JudgeConfig(sample_size=0)
