"""Single-round protocols: cot baseline and self-consistency majority vote."""

from agentark_core.llm.scripted import ScriptedGenerator
from agentark_core.mas import CotConfig, SelfConsistencyConfig, run_protocol


def test_cot_single_row_per_question(make_questions):
    questions = make_questions(3)
    gen = ScriptedGenerator(lambda req, call: "Final Answer: 4")
    turns = run_protocol("cot", questions, gen, CotConfig(temperature=0.0))
    assert [len(batch) for batch in gen.calls] == [3]
    assert gen.params[0].temperature == 0.0
    assert [(t.question_id, t.agent_id, t.role, t.round) for t in turns] == [
        (q.question_id, 0, "agent", 1) for q in questions
    ]
    assert all(t.protocol == "cot" and t.answer == "4" for t in turns)


def test_self_consistency_majority_vote(make_questions):
    q_vote, q_none, q_tie = make_questions(3)
    replies = (
        ["Final Answer: 3", "Final Answer: 4", "no answer here", "Final Answer: 4", "Final Answer: 5"]
        + ["hmm", "unsure", "pass", "skip", "no idea"]
        + ["Final Answer: 7", "Final Answer: 8", "Final Answer: 8", "Final Answer: 7", "no"]
    )
    gen = ScriptedGenerator(replies)
    turns = run_protocol("self_consistency", [q_vote, q_none, q_tie], gen, SelfConsistencyConfig(n_agents=5))

    assert [len(batch) for batch in gen.calls] == [15]  # votes need no model call
    votes = {t.question_id: t for t in turns if t.role == "aggregator"}
    assert votes[q_vote.question_id].answer == "4"
    assert votes[q_none.question_id].answer is None
    assert votes[q_tie.question_id].answer == "7"  # tie goes to the earliest answer
    for vote in votes.values():
        assert (vote.agent_id, vote.round, vote.completion_tokens, vote.messages) == (-1, 2, 0, ())
    assert sum(t.role == "agent" for t in turns) == 15
