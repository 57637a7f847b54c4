"""Debate protocol: batching per round, consensus stop, peers, aggregator, context handling."""

import pytest

from agentark_core.llm.scripted import ScriptedGenerator
from agentark_core.mas import DebateConfig, run_protocol


def _users(messages) -> str:
    return "\n".join(m["content"] for m in messages if m["role"] == "user")


def test_one_call_per_round_and_row_bookkeeping(make_questions):
    questions = make_questions(3)
    gen = ScriptedGenerator(lambda req, call: f"I think so. Final Answer: {call}{len(req.messages)}")
    config = DebateConfig(n_agents=3, rounds=3, consensus_stop=False, seed=7)
    turns = run_protocol("debate", questions, gen, config)

    assert [len(batch) for batch in gen.calls] == [9, 9, 9, 3]  # rounds 1..3, then aggregator
    assert [p.seed for p in gen.params] == [7, 8, 9, 10]
    agent_rows = sorted((t.question_id, t.agent_id, t.round) for t in turns if t.role == "agent")
    expected = sorted((q.question_id, a, k) for q in questions for a in range(3) for k in (1, 2, 3))
    assert agent_rows == expected
    aggregators = [t for t in turns if t.role == "aggregator"]
    assert sorted(t.question_id for t in aggregators) == sorted(q.question_id for q in questions)
    assert all(t.agent_id == -1 and t.round == 4 for t in aggregators)
    assert {t.answer for t in turns if t.round == 1} == {"01"}  # extracted from "Final Answer: 01"


def test_consensus_stops_only_the_agreeing_question(make_questions):
    q_agree, q_split = make_questions(2)
    replies = (
        ["Final Answer: 0"] * 3  # round 1, q_agree: consensus
        + ["Final Answer: 1", "Final Answer: 2", "Final Answer: 3"]  # round 1, q_split
        + ["Final Answer: 2"] * 3  # round 2, q_split only: consensus
        + ["agg a. Final Answer: 0", "agg b. Final Answer: 2"]
    )
    gen = ScriptedGenerator(replies)
    turns = run_protocol("debate", [q_agree, q_split], gen, DebateConfig(n_agents=3, rounds=3))

    assert [len(batch) for batch in gen.calls] == [6, 3, 2]  # no round 3 at all
    rounds = {q.question_id: {t.round for t in turns if t.question_id == q.question_id and t.role == "agent"}
              for q in (q_agree, q_split)}
    assert rounds == {q_agree.question_id: {1}, q_split.question_id: {1, 2}}
    agg = {t.question_id: t for t in turns if t.role == "aggregator"}
    assert agg[q_agree.question_id].round == 2 and agg[q_split.question_id].round == 3
    assert agg[q_split.question_id].answer == "2"


def test_no_consensus_when_an_answer_is_missing(make_questions):
    gen = ScriptedGenerator(lambda req, call: "no idea" if call == 0 and "Agent" not in _users(req.messages)
                            else "Final Answer: 5")
    turns = run_protocol("debate", make_questions(1), gen, DebateConfig(n_agents=2, rounds=2))
    assert [len(batch) for batch in gen.calls] == [2, 2, 1]
    assert all(t.answer is None for t in turns if t.round == 1 and t.role == "agent")


def test_round_k_prompt_holds_peers_but_not_self(make_questions):
    round1 = [f"{name} reasoning. Final Answer: {i}" for i, name in enumerate(("alpha", "beta", "gamma"))]
    gen = ScriptedGenerator(round1 + ["Final Answer: 9"] * 3 + ["Final Answer: 9"])
    turns = run_protocol("debate", make_questions(1), gen, DebateConfig(n_agents=3, rounds=2))

    second = {t.agent_id: t for t in turns if t.round == 2}
    for agent_id, turn in second.items():
        roles = [m["role"] for m in turn.messages]
        assert roles == ["user", "assistant", "user"]
        assert turn.messages[1]["content"] == round1[agent_id]  # own previous answer, as its own turn
        peer_message = turn.messages[2]["content"]
        assert "solutions to the problem from other agents" in peer_message
        for other, text in enumerate(round1):
            assert (text in peer_message) == (other != agent_id)


def test_aggregator_sees_final_round_solutions(make_questions):
    round1 = [f"first-{a}. Final Answer: {a}" for a in range(3)]
    round2 = [f"second-{a}. Final Answer: {a + 5}" for a in range(3)]
    gen = ScriptedGenerator(round1 + round2 + ["Final Answer: 6"])
    turns = run_protocol("debate", make_questions(1), gen, DebateConfig(n_agents=3, rounds=2))

    (agg,) = [t for t in turns if t.role == "aggregator"]
    prompt = _users(agg.messages)
    assert all(text in prompt for text in round2)
    assert not any(text in prompt for text in round1)
    assert agg.answer == "6" and agg.response == "Final Answer: 6"


def test_context_only_in_round_one_and_aggregator(make_questions):
    marker = "CONTEXT-MARKER: a long document about sums."
    questions = make_questions(2, context=marker)
    for repeat in (False, True):
        gen = ScriptedGenerator(lambda req, call: f"Final Answer: {call}")
        config = DebateConfig(n_agents=2, rounds=3, repeat_context=repeat, consensus_stop=False)
        turns = run_protocol("debate", questions, gen, config)
        for t in turns:
            has_context = marker in _users(t.messages)
            expected = t.round == 1 or t.role == "aggregator" or repeat
            assert has_context == expected, (repeat, t.round, t.role)


def test_every_round_kept_with_prompt_hash_and_tokens(make_questions):
    gen = ScriptedGenerator(lambda req, call: f"step one step two Final Answer: {call}")
    config = DebateConfig(n_agents=2, rounds=2, consensus_stop=False)
    turns = run_protocol("debate", make_questions(2), gen, config)
    assert len(turns) == 2 * 2 * 2 + 2
    first = [t for t in turns if t.round == 1]
    assert len({t.prompt_hash for t in first}) == 2  # agents of a question share their round-1 prompt
    assert all(t.completion_tokens == 7 and t.prompt_tokens > 0 for t in turns)


def test_consensus_up_to_equivalence_stops_early(make_questions):
    gen = ScriptedGenerator(["Final Answer: 4", "Final Answer: 4.0", "so 8/2. Final Answer: 4", "Final Answer: 4"])
    turns = run_protocol("debate", make_questions(1), gen, DebateConfig(n_agents=3, rounds=3))
    assert [len(batch) for batch in gen.calls] == [3, 1]
    assert [t.round for t in turns] == [1, 1, 1, 2]


def test_aggregator_temperature_applies_to_the_aggregator_call_only(make_questions):
    gen = ScriptedGenerator(lambda req, call: f"Final Answer: {call}")
    config = DebateConfig(n_agents=2, rounds=2, temperature=0.9, consensus_stop=False, seed=5, aggregator_temperature=0.0)
    run_protocol("debate", make_questions(2), gen, config)
    assert [p.temperature for p in gen.params] == [0.9, 0.9, 0.0]
    assert [p.seed for p in gen.params] == [5, 6, 7]  # the aggregator keeps its own seed offset
    default = ScriptedGenerator(lambda req, call: f"Final Answer: {call}")
    run_protocol("debate", make_questions(2), default, DebateConfig(n_agents=2, rounds=1, temperature=0.9))
    assert [p.temperature for p in default.params] == [0.9, 0.9]


def test_negative_aggregator_temperature_is_refused():
    with pytest.raises(ValueError, match="temperature"):
        DebateConfig(aggregator_temperature=-1.0)
