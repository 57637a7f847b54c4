"""The vllm backend's prefix-sharing request order (pure Python: no vLLM needed)."""

from __future__ import annotations

from agentark_core.llm.types import ChatRequest
from agentark_core.llm.vllm_backend import prefix_sharing_order


def _round_one(questions: int, agents: int) -> list[ChatRequest]:
    return [ChatRequest.user(f"question {q}") for q in range(questions) for _ in range(agents)]


def test_debate_round_one_goes_agent_major():
    # q0a0 q0a1 q1a0 q1a1 q2a0 q2a1 -> every question's first agent, then every second agent
    assert prefix_sharing_order(_round_one(3, 2)) == [0, 2, 4, 1, 3, 5]


def test_distinct_openings_keep_input_order():
    requests = [ChatRequest.user(f"q{i}") for i in range(5)]
    assert prefix_sharing_order(requests) == [0, 1, 2, 3, 4]
    assert prefix_sharing_order([]) == []


def test_later_rounds_share_their_first_user_message_only():
    def update(q: int, agent: int) -> ChatRequest:
        return ChatRequest(messages=(
            {"role": "user", "content": f"question {q}"},
            {"role": "assistant", "content": f"agent {agent} said {q + agent}"},
            {"role": "user", "content": f"peers of agent {agent}"},
        ))

    requests = [update(q, a) for q in range(2) for a in range(3)]
    assert prefix_sharing_order(requests) == [0, 3, 1, 4, 2, 5]


def test_the_system_message_is_part_of_the_opening():
    same_system = [ChatRequest.user(f"q{i}", system="be careful") for i in range(3)]
    assert prefix_sharing_order(same_system) == [0, 1, 2]  # shared system prompt, distinct questions
    systems = [ChatRequest.user("q", system=s) for s in ("a", "b", "a")]
    assert prefix_sharing_order(systems) == [0, 1, 2]
    repeated = [ChatRequest.user("q", system=s) for s in ("a", "a", "b")]
    assert prefix_sharing_order(repeated) == [0, 2, 1]
