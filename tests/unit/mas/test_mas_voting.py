"""Single-round protocols: cot baseline and self-consistency majority vote."""

from agentark_core.data.question import Question
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


def test_votes_and_consensus_compare_answers_up_to_equivalence(make_questions):
    q_half, q_four = make_questions(2)
    replies = ["Final Answer: 1/2", "Final Answer: 3", "Final Answer: 0.5"] + ["Final Answer: 4.0"] * 3
    gen = ScriptedGenerator(replies)
    turns = run_protocol("self_consistency", [q_half, q_four], gen, SelfConsistencyConfig(n_agents=3))
    votes = {t.question_id: t.answer for t in turns if t.role == "aggregator"}
    assert votes == {q_half.question_id: "1/2", q_four.question_id: "4.0"}


def test_mcq_prompt_letters_choices_and_answer_is_a_letter():
    question = Question("toy", "test", "mcq", "Which colour is the sky?", "B", choices=("red", "blue", "green"))
    gen = ScriptedGenerator(["It is blue. Final Answer: (B)"])
    (turn,) = run_protocol("cot", [question], gen)
    prompt = turn.messages[0]["content"]
    assert "A) red\nB) blue\nC) green" in prompt and "letter of the correct option" in prompt
    assert turn.answer == "B"
