"""R-SFT, DA and PRM builders on hand-built debate logs (answers known by construction)."""

import json

import pytest

from agentark_core.extract import (
    agent_rounds,
    build_da,
    build_prm,
    build_rsft,
    build_trajectories,
    example_id,
    student_prompt,
)
from agentark_core.llm.scripted import ScriptedGenerator
from agentark_core.mas import prompts
from schemas import validate


def _tables(log):
    questions, turns, labels = log
    rounds = agent_rounds(turns, labels)
    trajectories, _ = build_trajectories(rounds, questions)
    return questions, rounds, trajectories


def test_student_prompt_is_the_round_one_prompt(hand_questions):
    q = hand_questions["fix"]
    assert student_prompt(q) == prompts.first_prompt(q)
    assert student_prompt(q.to_row()) == student_prompt(q)
    assert student_prompt(q).endswith("as 'Final Answer: X'.")


def test_rsft_one_example_per_correct_final_trace_of_kept_questions(hand_log, hand_questions):
    questions, _, trajectories = _tables(hand_log)
    rsft = validate(build_rsft(trajectories, questions), "sft_examples")
    per_q = rsft.groupby("question_id").size().to_dict()
    hq = hand_questions
    assert per_q == {hq["fix"].question_id: 2, hq["early"].question_id: 3, hq["tie"].question_id: 2}
    fix = rsft.loc[rsft["question_id"] == hq["fix"].question_id]
    assert fix["reasoning"].tolist() == ["2 + 3 = 5", "2 + 3 = 5"]
    assert set(rsft["answer"]) >= {"Final Answer: 5", "Final Answer: 8"}
    assert (
        (rsft["weight"] == 1.0).all() and (rsft["group_size"] == 1).all() and (rsft["kind"] == "rsft").all()
    )
    assert rsft["example_id"].tolist() == build_rsft(trajectories, questions)["example_id"].tolist()


def test_rsft_corrective_first_and_cap(hand_log, hand_questions):
    questions, _, trajectories = _tables(hand_log)
    rsft = build_rsft(trajectories, questions, max_per_question=1)
    fix = rsft.loc[rsft["question_id"] == hand_questions["fix"].question_id]
    corrective_id = example_id("rsft", hand_questions["fix"].question_id, 1)  # agent 1 is corrective
    assert len(fix) == 1 and rsft.groupby("question_id").size().max() == 1
    assert fix["example_id"].iloc[0] == corrective_id
    uncapped = build_rsft(trajectories, questions, corrective_first=False, max_per_question=1)
    assert (
        uncapped.loc[uncapped["question_id"] == fix["question_id"].iloc[0], "example_id"].iloc[0]
        != corrective_id
    )
    with pytest.raises(ValueError, match="max_per_question"):
        build_rsft(trajectories, questions, max_per_question=0)


# Four correct traces of 3 * (2 + 2) = 12: 0 and 1 share one structure, 2 and 3 differ.
DIVERSE = [
    "2 + 2 = 4\n3 * 4 = 12\nFinal Answer: 12",
    "2 + 2 = 4\n4 * 3 = 12\nFinal Answer: 12",
    "3 * 2 = 6\n3 * 2 = 6\n6 + 6 = 12\nFinal Answer: 12",
    "Half of 12 is 6.\n12 / 2 = 6\n6 / 0.5 = 12\nFinal Answer: 12",
]


@pytest.fixture
def diverse_log(make_log, hand_questions):
    from agentark_core.data.question import Question

    q = Question("hand", "train", "math", "What is 3 * (2 + 2)?", "12")
    return make_log(
        {
            q: {a: [t] for a, t in enumerate(DIVERSE)},
            hand_questions["early"]: {0: ["4 * 2 = 8\nFinal Answer: 8"], 1: ["2 * 4 = 8\nFinal Answer: 8"]},
        }
    )


def test_da_greedy_picks_structurally_different_traces(diverse_log):
    questions, _, trajectories = _tables(diverse_log)
    da, stats = build_da(trajectories, questions)
    validate(da, "sft_examples")
    big = da.loc[da["group_size"] == 3]
    assert sorted(r.splitlines()[0] for r in big["reasoning"]) == [
        "2 + 2 = 4",
        "3 * 2 = 6",
        "Half of 12 is 6.",
    ]
    assert big["weight"].tolist() == pytest.approx([1 / 3] * 3)
    small = da.loc[da["group_size"] != 3]  # the question whose two traces share one shape
    assert small["group_size"].tolist() == [1] and small["weight"].tolist() == [1.0]
    assert (stats.questions, stats.judged, stats.fallback, stats.selected) == (2, 0, 0, 4)
    assert (da["kind"] == "da").all()


def test_da_max_k_bounds_the_group(diverse_log):
    questions, _, trajectories = _tables(diverse_log)
    da, _ = build_da(trajectories, questions, max_k=2)
    assert da["group_size"].max() == 2
    assert sorted(r.splitlines()[0] for r in da["reasoning"] if r.startswith(("2 +", "Half"))) == [
        "2 + 2 = 4",
        "Half of 12 is 6.",
    ]
    with pytest.raises(ValueError, match="max_k"):
        build_da(trajectories, questions, max_k=4)


@pytest.mark.parametrize(
    ("reply", "valid"),
    [
        ('{"selected": [2, 4]}', True),
        ('{"selected": [5]}', False),
        ('{"selected": [1, 1]}', False),
        ('{"selected": [1, 2, 3, 4]}', False),
        ('{"selected": []}', False),
        ("I pick 2 and 4", False),
        ('{"selected": [true]}', False),
        ("[2, 4]", False),
        ('```json\n{"selected": [2]}\n```', False),
    ],
)
def test_da_judge_reply_parsed_strictly_invalid_falls_back(diverse_log, reply, valid):
    questions, _, trajectories = _tables(diverse_log)

    def script(request, call_index):
        return reply if "3 * (2 + 2)" in request.messages[-1]["content"] else json.dumps({"selected": [2]})

    judge = ScriptedGenerator(script)
    da, stats = build_da(trajectories, questions, generator=judge)
    assert len(judge.calls) == 1 and len(judge.calls[0]) == 2  # one batched call for both questions
    assert (stats.judged, stats.fallback) == (2, 0 if valid else 1)
    prompt = next(
        r.messages[-1]["content"] for r in judge.calls[0] if "3 * (2 + 2)" in r.messages[-1]["content"]
    )
    assert "Ground-truth answer: 12" in prompt and "Solution 4:" in prompt and '{"selected"' in prompt
    big = da.loc[da["question_id"].isin(trajectories.loc[trajectories["agent_id"] == 3, "question_id"])]
    firsts = sorted(r.splitlines()[0] for r in big["reasoning"])
    expected = ["2 + 2 = 4", "Half of 12 is 6."] if valid else ["2 + 2 = 4", "3 * 2 = 6", "Half of 12 is 6."]
    assert firsts == expected  # valid: solutions 2 and 4 (1-based) — else the greedy choice


def test_prm_labels_positives_divergence_and_corrective(hand_log, hand_questions):
    questions, rounds, trajectories = _tables(hand_log)
    prm = validate(build_prm(trajectories, rounds, questions, splitter="line"), "prm_examples")
    fix = prm.loc[prm["question_id"] == hand_questions["fix"].question_id]
    got = list(zip(fix["source"], fix["steps"], fix["step_labels"]))
    assert got == [
        ("correct", ["2 + 3 = 5", "Final Answer: 5"], [1, 1]),
        ("correct", ["2 + 3 = 5", "Final Answer: 5"], [1, 1]),
        # agent 2's final trace repeats the correct first step, then goes wrong
        ("incorrect", ["2 + 3 = 5", "5 + 2 = 7", "Final Answer: 7"], [1, 0, 0]),
        # agent 1's round-1 mistake (corrective agent)
        ("corrective", ["2 + 3 = 6", "Final Answer: 6"], [0, 0]),
    ]
    assert fix["is_correct"].tolist() == [True, True, False, False]
    assert hand_questions["drop"].question_id not in set(prm["question_id"])  # dropped question
    early = prm.loc[prm["question_id"] == hand_questions["early"].question_id]
    assert len(early) == 3 and all(all(labels) for labels in early["step_labels"])  # positives only
    assert prm["trace_id"].is_unique


def test_prm_paragraph_splitter_and_unknown_splitter(hand_log):
    questions, rounds, trajectories = _tables(hand_log)
    prm = build_prm(trajectories, rounds, questions)
    assert all(len(s) == 1 for s in prm["steps"])  # no blank lines in these traces: one paragraph each
    with pytest.raises(KeyError, match="valid: line, paragraph, step"):
        build_prm(trajectories, rounds, questions, splitter="sentences")
