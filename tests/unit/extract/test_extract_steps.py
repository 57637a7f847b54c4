"""Step splitting, final-answer splitting, step shapes and the structural distance."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentark_core.extract import (
    greedy_diverse,
    lcs_length,
    split_final_answer,
    split_steps,
    step_shape,
    structural_distance,
    trace_pattern,
)


def _lcs_table(a, b):
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a, 1):
        for j, y in enumerate(b, 1):
            table[i][j] = table[i - 1][j - 1] + 1 if x == y else max(table[i - 1][j], table[i][j - 1])
    return table[-1][-1]


@given(st.lists(st.sampled_from("abcd"), max_size=70), st.lists(st.sampled_from("abcd"), max_size=70))
def test_bit_parallel_lcs_equals_dynamic_programming(a, b):
    assert lcs_length(a, b) == _lcs_table(a, b) == lcs_length(b, a)


def test_structural_distance_is_one_minus_rouge_l_f():
    assert structural_distance(("+=", "*="), ("+=", "*=")) == 0.0
    assert structural_distance(("+=",), ("/=",)) == 1.0
    assert structural_distance(("+=", "*=", "T"), ("*=", "T")) == pytest.approx(1 - 2 * 2 / 5)
    assert structural_distance((), ()) == 0.0


def test_splitters():
    text = "Step 1: 2 + 3 = 5\nso five\n\nStep 2: 5 * 2 = 10\nFinal Answer: 10"
    assert split_steps(text, "paragraph") == [
        "Step 1: 2 + 3 = 5\nso five",
        "Step 2: 5 * 2 = 10\nFinal Answer: 10",
    ]
    assert split_steps(text, "line") == [
        "Step 1: 2 + 3 = 5",
        "so five",
        "Step 2: 5 * 2 = 10",
        "Final Answer: 10",
    ]
    assert split_steps(text, "step") == [
        "Step 1: 2 + 3 = 5\nso five",
        "Step 2: 5 * 2 = 10",
        "Final Answer: 10",
    ]
    assert split_steps("   \n\n  ", "paragraph") == []
    with pytest.raises(KeyError, match="valid: line, paragraph, step"):
        split_steps(text, "words")


def test_step_shape_abstracts_numbers_keeps_operations():
    assert step_shape("12 + 7 = 19") == step_shape("3 + 4 = 7") == "+="
    assert step_shape("x = 1/2 + 0.25") == "=F+D"
    assert step_shape("\\frac{3}{4} \\cdot 8 = 6") == "\\frac\\cdot="
    assert step_shape("She has some apples.") == "T"
    assert trace_pattern("3 + 4 = 7\n7 * 2 = 14\nFinal Answer: 14") == ("+=", "*=", "T")


def test_split_final_answer():
    assert split_final_answer("a = 2\nb = 3\nFinal Answer: 5 apples", "math") == (
        "a = 2\nb = 3",
        "Final Answer: 5",
    )
    assert split_final_answer("2 + 3 = 5\nThe answer is \\boxed{5}.", "math") == (
        "2 + 3 = 5",
        "Final Answer: 5",
    )
    assert split_final_answer("It is red.\nAnswer: (b)", "mcq", ("x", "y")) == (
        "It is red.",
        "Final Answer: B",
    )
    no_line = "2 + 3 = 5, so she has 5 apples."
    assert split_final_answer(no_line, "math") == (
        no_line,
        "Final Answer: 5",
    )  # no answer line: all reasoning
    assert split_final_answer("Long essay.\nFinal Answer: Rome fell.", "longform") == (
        "Long essay.",
        "Final Answer: Rome fell.",
    )
    assert split_final_answer("no idea", "math") == ("no idea", None)


def test_greedy_diverse_max_min_and_stop():
    patterns = [("+=", "*="), ("+=", "*="), ("*=", "*=", "+="), ("F=", "/D=")]
    assert greedy_diverse(patterns, 0) == [0, 3, 2]
    assert greedy_diverse(patterns, 1, max_k=2) == [1, 3]
    assert greedy_diverse([("+=",), ("+=",)], 0) == [0]  # same structure: one trace is enough
    assert greedy_diverse(patterns, 0, min_distance=0.9) == [0, 3]
