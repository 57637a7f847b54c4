"""MAD protocol: affirmative/negative roles per round, consensus stop, judge row."""

from agentark_core.llm.scripted import ScriptedGenerator
from agentark_core.mas import MadConfig, run_protocol


def _mad_reply(request, call_index):
    """Affirmative always says 1; the negative agrees on question 0 and says 2 otherwise."""
    last = request.messages[-1]["content"]
    if "You are the judge" in last:
        return "The affirmative is right. Final Answer: 1"
    if "negative side. Argue" in last or "Argue against it" in last:
        question_zero = "What is 0 + 0?" in request.messages[0]["content"]
        return f"neg-{call_index}. Final Answer: {1 if question_zero else 2}"
    return f"aff-{call_index}. Final Answer: 1"


def test_mad_roles_rounds_and_judge(make_questions):
    q_agree, q_split = make_questions(2)
    gen = ScriptedGenerator(_mad_reply)
    turns = run_protocol("mad", [q_agree, q_split], gen, MadConfig(rounds=2))

    # round 1 affirmative, round 1 negative, round 2 (q_split only) x2, judge
    assert [len(batch) for batch in gen.calls] == [2, 2, 1, 1, 2]
    split_rows = [(t.role, t.agent_id, t.round) for t in turns if t.question_id == q_split.question_id]
    assert split_rows == [
        ("affirmative", 0, 1), ("negative", 1, 1), ("affirmative", 0, 2), ("negative", 1, 2), ("judge", -1, 3)
    ]
    judges = {t.question_id: t for t in turns if t.role == "judge"}
    assert judges[q_agree.question_id].round == 2
    judge_prompt = judges[q_split.question_id].messages[-1]["content"]
    for t in turns:
        if t.question_id == q_split.question_id and t.role != "judge":
            assert t.response in judge_prompt
    assert judges[q_split.question_id].answer == "1"


def test_mad_negative_answers_the_same_rounds_affirmative(make_questions):
    gen = ScriptedGenerator(_mad_reply)
    turns = run_protocol("mad", make_questions(2)[1:], gen, MadConfig(rounds=2, consensus_stop=False))
    by_round_role = {(t.round, t.role): t for t in turns}
    for k in (1, 2):
        aff, neg = by_round_role[(k, "affirmative")], by_round_role[(k, "negative")]
        assert aff.response in neg.messages[-1]["content"]
    second_aff = by_round_role[(2, "affirmative")]
    own_first = by_round_role[(1, "affirmative")].response
    assert second_aff.messages[1] == {"role": "assistant", "content": own_first}
    assert by_round_role[(1, "negative")].response in second_aff.messages[-1]["content"]
