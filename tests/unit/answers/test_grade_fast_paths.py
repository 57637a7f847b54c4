"""The speed-ups of grading change no verdict: number fast paths and the per-batch ``GradeCache``."""

import importlib
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentark_core.answers import GradeCache, extract_answer, grade
from agentark_core.answers.grade import MAX_CACHED_CHARS
from agentark_core.answers.normalize import normalize_math, parse_number

from .test_grade_table import TABLE

grade_module = importlib.import_module("agentark_core.answers.grade")  # the package's `grade` is the function
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
plain_numbers = st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{1,10})?", fullmatch=True)


@FUZZ
@given(number=plain_numbers)
def test_plain_numbers_normalise_as_the_full_rule_chain_does(number):
    # surrounding spaces bypass the fast path, so the right side runs every normalisation rule
    assert normalize_math(number) == normalize_math(f" {number} ") == number


@FUZZ
@given(number=plain_numbers)
def test_a_plain_number_extracts_as_the_full_math_route_reads_it(number):
    assert extract_answer(number, "math") == extract_answer(f" {number}\n", "math") == number


@FUZZ
@given(value=st.integers(min_value=-(10**40), max_value=10**40))
def test_integers_parse_to_the_value_the_decimal_route_reads(value):
    fast, decimal = parse_number(str(value)), parse_number(f"{value}.0")
    assert fast == decimal
    assert fast.value == Fraction(value) and not fast.percent


def test_integer_fast_path_keeps_the_digit_limit():
    assert parse_number("9" * 1000) is not None
    assert parse_number("9" * 1001) is None
    assert parse_number("-" + "9" * 1000) is not None  # the limit counts digits, not the sign


@pytest.mark.parametrize("prediction,gt,task_type,choices,expected", TABLE)
def test_cache_grades_the_table_like_grade(prediction, gt, task_type, choices, expected):
    cache = GradeCache()
    first = cache.grade(prediction, gt, task_type, choices)
    assert first == grade(prediction, gt, task_type, choices) and first.status == expected
    assert cache.grade(prediction, gt, task_type, choices) == first  # served from the memo


def test_cache_compares_each_distinct_answer_once(monkeypatch):
    calls = []
    real = grade_module.grade_extracted

    def counting(extracted, *args):
        calls.append(extracted)
        return real(extracted, *args)

    monkeypatch.setattr(grade_module, "grade_extracted", counting)
    cache = GradeCache()
    responses = ["Step 1: 2+2=4\nFinal Answer: 4", "so \\boxed{4}", "#### 5", "The answer is 5.", "no idea"]
    statuses = [cache.grade(r, "4", "math").status for r in responses * 3]
    assert statuses == ["correct", "correct", "incorrect", "incorrect", "ungradable"] * 3
    assert sorted(c for c in calls if c is not None) == ["4", "5"]  # once per distinct answer
    assert calls.count(None) == 3  # "no idea": nothing extracted, nothing memoised
    assert cache.grade("#### 4", "5", "math").status == "incorrect"  # the ground truth is part of the key
    assert cache.grade("(B)", "B", "mcq", ("x", "y")).correct
    assert not cache.grade("(B)", "B", "mcq", ("x",)).correct  # and so are the choices


def test_cache_stays_bounded():
    cache = GradeCache(max_entries=10)
    for value in range(35):
        assert cache.grade(f"#### {value}", "7", "math").correct == (value == 7)
        assert len(cache._grades) <= 10
    long_answer = "1" * (MAX_CACHED_CHARS + 1)
    cache = GradeCache()
    assert cache.grade(f"#### {long_answer}", long_answer, "math").correct
    assert cache.grade("Final Answer: yes", "yes", "longform").status == "ungradable"
    assert cache._grades == {}  # neither is memoised
