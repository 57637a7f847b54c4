"""evaluate_questions: cot and MAS through the same code, rows valid against schemas/evaluation.py."""

import pandas as pd
import pytest

import schemas
from agentark_core.data.question import Question
from agentark_core.evaluate.run_eval import evaluate_questions, records_from_turns
from agentark_core.llm.scripted import ScriptedGenerator
from agentark_core.mas import DebateConfig, run_protocol


def math_questions(n):
    return [Question("toy", "test", "math", f"What is {i} + {i}?", str(2 * i)) for i in range(n)]


def summary_value(summary, metric):
    (row,) = [r for r in summary if r["metric"] == metric]
    return row["value"], row["n"]


def validate(records, summary):
    schemas.validate(pd.DataFrame(records), "eval_records")
    schemas.validate(pd.DataFrame(summary), "eval_summary")


def words_per_question(gen, questions):
    """Prompt words the scripted generator saw for each question (its prompt-token count)."""
    totals = {q.question_id: 0 for q in questions}
    for batch in gen.calls:
        for request in batch:
            (q,) = [q for q in questions if q.query in request.messages[0]["content"]]
            totals[q.question_id] += sum(len(m["content"].split()) for m in request.messages)
    return totals


def test_cot_accuracy_tokens_and_schema():
    qs = math_questions(3)
    replies = ["Final Answer: 0", "1 + 1 = 2 so \\boxed{2}", "Final Answer: 7"]
    gen = ScriptedGenerator(replies)
    records, summary = evaluate_questions(qs, gen, "cot", {"temperature": 0.0}, "student", "toy")
    validate(records, summary)
    assert len(gen.calls) == 1 and len(gen.calls[0]) == 3
    assert [r["correct"] for r in records] == [True, True, False]
    assert [r["status"] for r in records] == ["correct", "correct", "incorrect"]
    assert [r["calls"] for r in records] == [1, 1, 1]
    assert [r["completion_tokens"] for r in records] == [3, 7, 3]
    prompts = words_per_question(gen, qs)
    assert [r["prompt_tokens"] for r in records] == [prompts[q.question_id] for q in qs]
    assert summary_value(summary, "accuracy") == (pytest.approx(2 / 3), 3)
    assert summary_value(summary, "completion_tokens_per_question")[0] == pytest.approx(13 / 3)
    assert summary_value(summary, "calls_per_question")[0] == pytest.approx(1.0)
    assert {r["protocol"] for r in records} == {"cot"} and records[0]["model"] == "student"


def test_debate_grades_the_aggregator_and_counts_every_call():
    qs = math_questions(3)  # gt 0, 2, 4
    replies = [
        # round 1, two agents per question: q0 agrees, q1 disagrees, q2 agrees (wrongly)
        "Final Answer: 0",
        "Final Answer: 0",
        "Final Answer: 2",
        "Final Answer: 3",
        "Final Answer: 5",
        "Final Answer: 5",
        # round 2: only q1 is still open
        "Final Answer: 2",
        "Final Answer: 2",
        # aggregator, one per question
        "Final Answer: 0",
        "Final Answer: 2",
        "no idea",
    ]
    gen = ScriptedGenerator(replies)
    config = DebateConfig(n_agents=2, rounds=2, temperature=0.7)
    records, summary = evaluate_questions(qs, gen, "debate", config, "teacher", "toy")
    validate(records, summary)
    assert [len(batch) for batch in gen.calls] == [6, 2, 3]
    assert [r["status"] for r in records] == ["correct", "correct", "ungradable"]
    assert [r["answer"] for r in records] == ["0", "2", None]
    assert [r["response"] for r in records] == ["Final Answer: 0", "Final Answer: 2", "no idea"]
    assert [r["calls"] for r in records] == [3, 5, 3]
    assert [r["completion_tokens"] for r in records] == [9, 15, 8]
    prompts = words_per_question(gen, qs)
    assert [r["prompt_tokens"] for r in records] == [prompts[q.question_id] for q in qs]
    assert summary_value(summary, "accuracy")[0] == pytest.approx(2 / 3)
    assert summary_value(summary, "ungradable_rate")[0] == pytest.approx(1 / 3)
    assert summary_value(summary, "calls_per_question")[0] == pytest.approx(11 / 3)


def test_self_consistency_uses_the_vote_row_which_is_not_a_call():
    qs = math_questions(2)  # gt 0, 2
    gen = ScriptedGenerator(
        [
            "Final Answer: 0",
            "Final Answer: 9",
            "Final Answer: 0",
            "Final Answer: 1",
            "Final Answer: 2",
            "Final Answer: 1",
        ]
    )
    records, summary = evaluate_questions(qs, gen, "self_consistency", {"n_agents": 3}, "m", "toy")
    validate(records, summary)
    assert [r["answer"] for r in records] == ["0", "1"]
    assert [r["correct"] for r in records] == [True, False]
    assert [r["calls"] for r in records] == [3, 3]


def test_short_questions_get_token_f1_and_rouge():
    qs = [
        Question("hotpot", "test", "short", "Which tower is in Paris?", "Eiffel Tower"),
        Question("hotpot", "test", "short", "Capital of France?", "Paris"),
    ]
    gen = ScriptedGenerator(["Final Answer: the Eiffel Tower in Paris", "Final Answer: Paris"])
    records, summary = evaluate_questions(qs, gen, "cot", None, "m", "hotpotqa")
    validate(records, summary)
    # [eiffel tower in paris] vs [eiffel tower]: P = 2/4, R = 1 -> F1 = 2/3; second item exact
    assert [r["score"] for r in records] == [pytest.approx(2 / 3), 1.0]
    assert summary_value(summary, "token_f1") == (pytest.approx((2 / 3 + 1) / 2), 2)
    assert summary_value(summary, "rouge1")[0] == pytest.approx((2 / 3 + 1) / 2)
    assert summary_value(summary, "accuracy")[0] == pytest.approx(0.5)


def test_math_records_have_no_score_and_no_text_metrics():
    records, summary = evaluate_questions(math_questions(1), ScriptedGenerator(["Final Answer: 0"]), "cot")
    assert records[0]["score"] is None
    assert "token_f1" not in {r["metric"] for r in summary}


def test_missing_final_turn_is_named():
    qs = math_questions(2)
    turns = run_protocol("self_consistency", qs, ScriptedGenerator(lambda r, i: "Final Answer: 1"))
    agents_only = [t for t in turns if t.role == "agent"]
    with pytest.raises(ValueError, match=f"question {qs[0].question_id}: expected one final turn"):
        records_from_turns(qs, agents_only, "self_consistency", "m", "toy")


def test_unknown_protocol_lists_valid_ones():
    with pytest.raises(KeyError, match="debate"):
        evaluate_questions(math_questions(1), ScriptedGenerator(["x"]), "debait")


def test_mad_grades_the_judge_not_the_debaters():
    qs = math_questions(2)[1:]  # "What is 1 + 1?", gt 2
    # affirmative right, negative wrong, judge sides with the negative
    gen = ScriptedGenerator(["Final Answer: 2", "Final Answer: 3", "The negative wins. Final Answer: 3"])
    records, summary = evaluate_questions(qs, gen, "mad", {"rounds": 1}, "m", "toy")
    validate(records, summary)
    assert records[0]["answer"] == "3" and records[0]["correct"] is False
    assert records[0]["calls"] == 3 and records[0]["completion_tokens"] == 3 + 3 + 6


def test_a_cut_off_reply_is_truncated_never_correct():
    qs = math_questions(3)
    # q1's reply states the right answer but ran into max_tokens; q2 was cut off while thinking
    replies = ["<think>0 + 0 = 0</think>\n\nFinal Answer: 0", ("Final Answer: 2, and to check", "length"),
               ("<think>4 is 2 + 2, so", "length")]
    records, summary = evaluate_questions(qs, ScriptedGenerator(replies), "cot", {"temperature": 0.0})
    validate(records, summary)
    assert [r["status"] for r in records] == ["correct", "truncated", "truncated"]
    assert [r["correct"] for r in records] == [True, False, False]
    assert records[0]["response"] == "Final Answer: 0"  # the think block is not part of the response
    assert summary_value(summary, "accuracy") == (pytest.approx(1 / 3), 3)
    assert summary_value(summary, "truncated_rate") == (pytest.approx(2 / 3), 3)
