"""Verifiers: rule = grade(); llm = one guided true/false generate call per batch, parsed strictly."""

import pytest

from agentark_core.answers import grade
from agentark_core.data.question import Question
from agentark_core.llm.types import ChatRequest, Completion, SamplingParams
from agentark_core.verify import VERIFIERS, VerifyItem, build_verifier, parse_verdict


class FakeJudge:
    """Replies from a script, one reply per request, and records every generate call."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.calls: list[tuple[list[ChatRequest], SamplingParams]] = []

    def generate(self, requests, params):
        self.calls.append((list(requests), params))
        out = [self.replies.pop(0) for _ in requests]
        return [Completion(text=t, prompt_tokens=1, completion_tokens=1, latency_s=0.0) for t in out]


MATH_OK = VerifyItem("What is 6*7?", "42", "math", "6*7 is SECRET_STEP 42, so \\boxed{42}")
MATH_BAD = VerifyItem("What is 6*7?", "42", "math", "\\boxed{41}")
ESSAY = VerifyItem(
    "Explain rain.", "Water condenses and falls.", "longform", "Clouds get heavy and it rains."
)
VAGUE = VerifyItem(
    "Capital of France?", "Paris", "short", "Hmm.\nIt is the city of light, famous for its tower."
)
PET = VerifyItem("Which pet barks?", "B", "mcq", "It barks, so (B)", ("cat", "dog"))


def test_registry_names_and_unknown_name():
    assert VERIFIERS.names() == ["llm", "llm_only", "rule", "rule_then_llm"]
    with pytest.raises(KeyError, match="rule_then_llm"):
        build_verifier("majority")


def test_rule_verifier_is_grade_over_the_batch():
    items = [MATH_OK, MATH_BAD, ESSAY, VAGUE, PET]
    grades = build_verifier("rule").verify(items)
    assert grades == [grade(it.response, it.gt, it.task_type, it.choices) for it in items]
    assert [g.status for g in grades] == ["correct", "incorrect", "ungradable", "ungradable", "correct"]


@pytest.mark.parametrize(
    "reply,status",
    [
        ("true", "correct"),
        (" TRUE\n", "correct"),
        ("True", "correct"),
        ("false", "incorrect"),
        ("\tFalse ", "incorrect"),
        ("yes", "ungradable"),
        ("true.", "ungradable"),
        ("", "ungradable"),
        ("true false", "ungradable"),
        ("ture", "ungradable"),
        ("The answer is true", "ungradable"),
        ("1", "ungradable"),
    ],
)
def test_verdicts_are_parsed_strictly(reply, status):
    assert parse_verdict(reply) == status
    judge = FakeJudge([reply])
    assert build_verifier("llm", judge).verify([MATH_OK])[0].status == status


def test_llm_verifier_makes_one_guided_greedy_call_per_batch():
    judge = FakeJudge(["true", "false", "true", "maybe", "false"])
    items = [MATH_OK, MATH_BAD, ESSAY, VAGUE, PET]
    grades = build_verifier("llm_only", judge).verify(items)
    assert [g.status for g in grades] == ["correct", "incorrect", "correct", "ungradable", "incorrect"]
    assert len(judge.calls) == 1
    requests, params = judge.calls[0]
    assert len(requests) == 5
    assert all(r.guided_choice == ("true", "false") for r in requests)
    assert params.temperature == 0.0
    assert grades[0].extracted == "42" and grades[4].extracted == "B"


def test_prompt_is_answer_only_with_question_truth_and_options():
    judge = FakeJudge(["true", "true", "true"])
    build_verifier("llm", judge).verify([MATH_OK, PET, VAGUE])
    math_prompt, pet_prompt, vague_prompt = (r.messages[-1]["content"] for r in judge.calls[0][0])
    assert "What is 6*7?" in math_prompt and "42" in math_prompt
    assert "SECRET_STEP" not in math_prompt  # the reasoning is not shown, only the final answer
    assert "A. cat" in pet_prompt and "B. dog" in pet_prompt and "B. dog\n>>>" in pet_prompt
    assert "city of light" in vague_prompt  # nothing extractable: the end of the response is shown


def test_llm_verifier_edge_cases():
    judge = FakeJudge([])
    verifier = build_verifier("llm", judge)
    assert verifier.verify([]) == [] and judge.calls == []
    with pytest.raises(ValueError, match="generator"):
        build_verifier("llm")

    class ShortJudge(FakeJudge):
        def generate(self, requests, params):
            return super().generate(requests[:1], params)

    with pytest.raises(RuntimeError, match="1 completions for 2 requests"):
        build_verifier("llm", ShortJudge(["true"])).verify([MATH_OK, MATH_BAD])


def test_rule_then_llm_asks_only_about_ungradable_items_in_one_call():
    judge = FakeJudge(["true", "false"])
    grades = build_verifier("rule_then_llm", judge).verify([MATH_OK, ESSAY, MATH_BAD, VAGUE, PET])
    assert [g.status for g in grades] == ["correct", "correct", "incorrect", "incorrect", "correct"]
    assert len(judge.calls) == 1
    asked = [r.messages[-1]["content"] for r in judge.calls[0][0]]
    assert len(asked) == 2 and "Explain rain." in asked[0] and "Capital of France?" in asked[1]

    quiet = FakeJudge([])
    assert [g.status for g in build_verifier("rule_then_llm", quiet).verify([MATH_OK, PET])] == [
        "correct"
    ] * 2
    assert quiet.calls == []


def test_verify_item_validation_and_question_records():
    with pytest.raises(ValueError, match="task_type"):
        VerifyItem("q", "1", "essay", "r")
    with pytest.raises(TypeError, match="response"):
        VerifyItem("q", "1", "math", None)
    q = Question(
        dataset="toy", split="test", task_type="mcq", query="Which barks?", gt="B", choices=("cat", "dog")
    )
    item = VerifyItem.of(q, "(B)")
    assert (item.question, item.gt, item.choices) == ("Which barks?", "B", ("cat", "dog"))
    assert build_verifier("rule").verify([item])[0].correct
