"""Fixtures for the MAS protocol tests: small math question sets."""

import pytest

from agentark_core.data.question import Question


@pytest.fixture
def make_questions():
    """``make_questions(n, context="")`` -> n distinct math questions "What is i + i?" (gt 2i)."""

    def make(n: int, context: str = "") -> list[Question]:
        return [
            Question("toy", "test", "math", f"What is {i} + {i}?", str(2 * i), context=context)
            for i in range(n)
        ]

    return make
