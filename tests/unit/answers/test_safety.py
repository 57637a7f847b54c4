"""Model output is untrusted: grading never runs it, never hangs on it, never raises on it."""

import re
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agentark_core.answers as answers_pkg
import agentark_core.verify as verify_pkg
from agentark_core.answers import grade, warm_up
from agentark_core.answers.sandbox import screen, symbolic_equal

TASK_TYPES = ("math", "mcq", "short", "longform")
BOUND_S = 1.0
SLACK_S = 2.0  # two shared CPU cores (CI runs a loaded suite): scheduling noise on top of the bound; a hang still fails


@pytest.fixture(scope="module", autouse=True)
def warm_workers():
    warm_up(workers=2)  # the time bound excludes a worker's one-off start (importing sympy)


def timed_grade(prediction, gt="1", task_type="math", choices=()):
    start = time.monotonic()
    result = grade(prediction, gt, task_type, choices)
    return result, time.monotonic() - start


# --- code injection -------------------------------------------------------------------------


def payloads(sentinel: Path) -> list[str]:
    cmd = f"touch {sentinel}"
    calls = [
        f"__import__('os').system('{cmd}')",
        f'__import__("os").system("{cmd}")',
        f"(lambda: __import__('os').system('{cmd}'))()",
        f"exec(\"import os; os.system('{cmd}')\")",
        f"eval(\"__import__('os').system('{cmd}')\")",
        f"().__class__.__bases__[0].__subclasses__()[0].__init__.__globals__['os'].system('{cmd}')",
        f"open('{sentinel}', 'w').write('x')",
        f"__builtins__.__dict__['__import__']('subprocess').call(['touch', '{sentinel}'])",
        f"1+__import__('os').system('{cmd}')",
    ]
    wrapped = []
    for call in calls:
        wrapped += [
            call,
            f"\\boxed{{{call}}}",
            f"The answer is {call}.",
            f"#### {call}",
            f"Final Answer: ${call}$",
            f"\\boxed{{\\frac{{{call}}}{{2}}}}",
            f"\\boxed{{\\text{{{call}}}}}",
        ]
    return wrapped


def test_injection_payloads_never_run(tmp_path):
    sentinel = tmp_path / "SENTINEL"
    for payload in payloads(sentinel):
        for task_type in TASK_TYPES:
            grade(payload, "2", task_type, ("a", "b"))
            grade("2", payload, task_type)
        symbolic_equal(payload, "2")
        symbolic_equal("x", payload)
    time.sleep(0.2)  # a payload running in the worker would have created the file by now
    assert not sentinel.exists()


def test_source_has_no_eval_of_text():
    """No eval/exec/sympify/parse_expr anywhere in the grading or verifying code."""
    sources = list(Path(answers_pkg.__file__).parent.glob("*.py")) + list(
        Path(verify_pkg.__file__).parent.glob("*.py")
    )
    assert len(sources) >= 8
    forbidden = re.compile(r"(?<![.\w])(eval|exec|sympify|parse_expr|compile|__import__)\s*\(")
    for path in sources:
        assert not forbidden.search(path.read_text()), path


# --- pathological inputs ----------------------------------------------------------------------

PATHOLOGICAL = [
    "10**10**10",
    "\\boxed{10**10**10}",
    "9^9^9^9",
    "\\boxed{9^9^9^9}",
    "\\boxed{10^{10^{10}}}",
    "\\boxed{2^{2^{2^{2^{2}}}}}",
    "\\boxed{((2^{100})^{100})^{100})^{100})^{100}}",
    "(" * 10_000,
    "{" * 10_000,
    "\\boxed{" + "{" * 10_000 + "1" + "}" * 10_001,
    "\\boxed{" + "(" * 10_000 + "1" + ")" * 10_000 + "}",
    "\\boxed{" * 100_000,
    "\\frac{" * 5_000,
    "\\sqrt{" * 5_000 + "2" + "}" * 5_000,
    "1" * 1_000_000,
    "a" * 1_000_000,
    "x" * 1_000_000 + "\\boxed{1}",
    "The answer is " + "9" * 100_000,
    "\\boxed{" + "9" * 5_000 + "}",
    "100000!",
    "\\boxed{100000!}",
    "\\boxed{(10^{9})!}",
    "\\boxed{\\sum_{i=1}^{10^{9}} i}",
    "\\boxed{1e999999}",
    "\\boxed{\\underbrace{" * 2_000,
    "#### " + "-" * 500_000,
    "Final Answer: " + "\\left(" * 3_000,
    "\\boxed{" + "x^{" * 300 + "}" * 300 + "}",
    "\\boxed{\\def\\a{\\a\\a}\\a}",
]


@pytest.mark.parametrize("task_type", TASK_TYPES)
@pytest.mark.parametrize("index", range(len(PATHOLOGICAL)))
def test_pathological_inputs_return_quickly(index, task_type):
    result, elapsed = timed_grade(PATHOLOGICAL[index], "7", task_type, ("7", "8"))
    assert elapsed < BOUND_S + SLACK_S, (PATHOLOGICAL[index][:60], elapsed)
    assert result.status in ("ungradable", "incorrect")


@pytest.mark.parametrize("expr", ["9^9^9^9", "10^{10^{10}}", "(" * 100, "1" * 100, "\\binom{10}{3}!" + "^2"])
def test_screen_refuses_dangerous_shapes(expr):
    assert screen(expr) is not None


@pytest.mark.parametrize("expr", ["\\frac{1}{2}", "x^{2}+2x+1", "e^{-x^2}", "2^{10}", "5!", "(1, 2)"])
def test_screen_lets_ordinary_math_through(expr):
    assert screen(expr) is None


SLOW_PAIR = ("\\boxed{(x+y+z+1)^{40}}", "(x+y+z+2)^{40}")  # passes the screen, sympy needs seconds


def test_time_bound_holds_off_the_main_thread():
    results = []

    def work():
        results.append(timed_grade(SLOW_PAIR[0], SLOW_PAIR[1]))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 2
    for result, elapsed in results:
        assert result.status == "ungradable"
        assert elapsed < BOUND_S + SLACK_S


def test_a_timed_out_worker_is_replaced():
    start = time.monotonic()
    assert grade(SLOW_PAIR[0], SLOW_PAIR[1], "math", timeout_s=0.3).status == "ungradable"
    assert time.monotonic() - start < 0.3 + SLACK_S
    start = time.monotonic()
    grade("\\boxed{2\\sqrt{2}}", "\\sqrt{8}", "math")  # within its own budget, warm worker or not
    assert time.monotonic() - start < BOUND_S + SLACK_S
    warm_up(workers=1)
    assert grade("\\boxed{2\\sqrt{2}}", "\\sqrt{8}", "math").status == "correct"


# --- fuzz -------------------------------------------------------------------------------------

NASTY_PARTS = [
    "\\boxed{",
    "\\fbox{",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "^",
    "^{",
    "**",
    "!",
    "9",
    "10",
    "0",
    "-",
    "\\frac{",
    "\\sqrt{",
    "\\left(",
    "\\right)",
    "$",
    "\\$",
    "%",
    "\\%",
    ",",
    ".",
    "/",
    "=",
    " ",
    "\n",
    "####",
    "Final Answer:",
    "The answer is ",
    "answer: ",
    "(B)",
    "a ",
    "A",
    "x",
    "\\pi",
    "e",
    "\\text{",
    "__import__('os')",
    "\\infty",
    "\\cdot",
    "\\times",
    "1e9",
    "∞",
    "½",
    "−",
    "\x00",
]
nasty_text = st.lists(st.sampled_from(NASTY_PARTS), max_size=60).map("".join)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(prediction=st.text(max_size=300), gt=st.text(max_size=40), task_type=st.sampled_from(TASK_TYPES))
def test_grade_never_raises_on_arbitrary_text(prediction, gt, task_type):
    result, elapsed = timed_grade(prediction, gt, task_type, ("yes", "no"))
    assert result.status in ("correct", "incorrect", "ungradable")
    assert elapsed < BOUND_S + SLACK_S


@FUZZ
@given(prediction=nasty_text, gt=nasty_text, task_type=st.sampled_from(TASK_TYPES))
def test_grade_never_raises_on_structured_nasty_text(prediction, gt, task_type):
    result, elapsed = timed_grade(prediction, gt, task_type, ("x", "\\pi"))
    assert result.status in ("correct", "incorrect", "ungradable")
    assert elapsed < BOUND_S + SLACK_S


@FUZZ
@given(value=st.integers(min_value=-(10**12), max_value=10**12))
def test_integers_grade_by_value(value):
    assert grade(f"The answer is {value:,}.", str(value), "math").correct
    assert not grade(f"#### {value + 1}", str(value), "math").correct
