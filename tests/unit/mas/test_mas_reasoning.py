"""Protocols on a reasoning model's replies: think blocks split off, cut-off replies carry no answer."""

import pytest

from agentark_core.llm.scripted import ScriptedGenerator
from agentark_core.mas import DebateConfig, run_protocol
from agentark_core.mas.base import Turn


def _think(reasoning: str, answer: str) -> str:
    return f"<think>\n{reasoning}\n</think>\n\n{answer}"


def test_think_blocks_go_to_reasoning_and_are_not_quoted_to_peers(make_questions):
    (q,) = make_questions(1)  # "What is 0 + 0?", gt 0
    secret = "SECRET-CHAIN"
    gen = ScriptedGenerator(lambda req, call: _think(f"{secret} {call}", "0 + 0 = 0\nFinal Answer: 0")
                            if call == 0 else "Final Answer: 0")
    turns = run_protocol("debate", [q], gen, DebateConfig(n_agents=2, rounds=2, consensus_stop=False))

    first = [t for t in turns if t.round == 1]
    assert [t.reasoning for t in first] == [f"{secret} 0", f"{secret} 0"]
    assert [t.response for t in first] == ["0 + 0 = 0\nFinal Answer: 0"] * 2
    assert [t.answer for t in first] == ["0", "0"]
    assert all(t.finish_reason == "stop" for t in turns)
    round2 = gen.calls[1]
    assert all(secret not in m["content"] for r in round2 for m in r.messages)  # own turn and peers' too
    assert first[0].to_row()["reasoning"] == f"{secret} 0"


def test_cut_off_replies_have_no_answer_and_do_not_make_consensus(make_questions):
    (q,) = make_questions(1)
    replies = [
        ("<think>\nThe answer could be 0 or", "length"),  # cut off while thinking
        ("Step 1: 0 + 0 = 0, so after a 7-day cycle the answer is 0", "length"),  # cut off mid-answer
        "Final Answer: 0",
        "Final Answer: 0", "Final Answer: 0", "Final Answer: 0",  # round 2
        "Final Answer: 0",  # aggregator
    ]
    gen = ScriptedGenerator(replies)
    turns = run_protocol("debate", [q], gen, DebateConfig(n_agents=3, rounds=2))

    first = [t for t in turns if t.round == 1]
    assert [t.finish_reason for t in first] == ["length", "length", "stop"]
    assert [t.answer for t in first] == [None, None, "0"]
    assert first[0].response == "" and first[0].reasoning == "The answer could be 0 or"
    assert [len(batch) for batch in gen.calls] == [3, 3, 1]  # no consensus from cut-off replies


def test_turn_refuses_an_unknown_finish_reason():
    with pytest.raises(ValueError, match="finish_reason"):
        Turn("q", "debate", 0, "agent", 1, (), "h", "r", None, 0, 0, 0.0, finish_reason="eos")
