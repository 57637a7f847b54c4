"""Grading is bounded in time for every input (issue 17: a 74-character answer once hung it for minutes).

* every regex of the grader runs in linear time on the inputs that make backtracking regexes blow up;
* unit-word runs after a number (24 to 5000 words) grade at once;
* input is capped before normalisation;
* a symbolic timeout does not make the next call wait outside its own ``timeout_s``;
* a modest fuzz run of adversarial answers: no exception, no code execution, each call <= 1.5 s
  (bench/bench_grading.py --fuzz 100000 is the full run).
"""

import importlib
import re
import string
import time

import pytest

from agentark_core.answers import extract_answer, grade, warm_up
from agentark_core.answers import sandbox as sandbox_module
from agentark_core.answers.normalize import normalize_math

from .corpus.adversarial import adversarial_answers

MODULES = ("extract", "normalize", "segments", "mcq", "grade", "sandbox")
SLACK_S = 1.0  # two shared CPU cores: scheduling noise on top of a bound; a hang still fails
CALL_BOUND_S = 1.5
LONG = 20_000
# the shapes that make backtracking regexes super-linear: long runs of what a repeated group matches,
# followed by a character that makes the match fail at the end
WORST_CASES = [
    "1 cm" + " cm" * (LONG // 3) + "!",
    "1" + " square feet" * (LONG // 12) + "?",
    " " * LONG + "x",
    "\t \n" * (LONG // 3) + "!",
    "1" * LONG + "a",
    "1," * (LONG // 2) + "x",
    "1,000" * (LONG // 5) + ",",
    "1 000 " * (LONG // 6) + "x",
    "$1 " * (LONG // 3),
    "$" * LONG,
    "\\" * LONG,
    "{" * LONG,
    "(A) " * (LONG // 4),
    "A " * (LONG // 2),
    "**" * (LONG // 2),
    "final answer " * (LONG // 13),
    "Final Answer: " * (LONG // 14) + "\n",
    "the answer is " * (LONG // 14),
    "x=" * (LONG // 2),
    "= " * (LONG // 2),
    "\\text{" * (LONG // 6),
    "\\text{a}" * (LONG // 8),
    "agent's " * (LONG // 8),
    "agent" + " " * LONG + "x",
    "# " * (LONG // 2) + "x",
    ",\\! 111" * (LONG // 7),
    "{,}" * (LONG // 3),
    "^{" * (LONG // 2),
    "1^" * (LONG // 2),
    "\\boxed{" * (LONG // 7),
    "or B " * (LONG // 5),
    "1/" * (LONG // 2),
    "aa" * (LONG // 2) + "1",
    "-" * LONG,
    ". " * (LONG // 2),
    "(dollars)" * (LONG // 9),
]


def _patterns():
    for name in MODULES:
        module = importlib.import_module(f"agentark_core.answers.{name}")
        for attr, value in vars(module).items():
            if isinstance(value, re.Pattern):
                yield f"{name}.{attr}", value


PATTERNS = list(_patterns())


def test_the_grader_regexes_are_all_found():
    assert len(PATTERNS) >= 40
    assert "normalize._LAST_UNIT" in dict(PATTERNS)


@pytest.mark.parametrize("name,pattern", PATTERNS, ids=[n for n, _ in PATTERNS])
def test_every_regex_is_linear_on_its_worst_inputs(name, pattern):
    for text in WORST_CASES:
        start = time.perf_counter()
        pattern.search(text)
        for _ in pattern.finditer(text):
            pass
        pattern.sub("", text)
        elapsed = time.perf_counter() - start
        # linear scans of 20k characters take milliseconds (~0.3 s on a loaded 2-core machine for the
        # unit-word alternation); a quadratic one takes seconds to minutes
        assert elapsed < 1.0, (name, text[:30], elapsed)


@pytest.mark.parametrize("words", [24, 100, 1000, 5000])
@pytest.mark.parametrize("template", ["The answer is 1 {units}!", "Final Answer: 1 {units}.", "\\boxed{1 {units}}"])
def test_unit_word_runs_grade_at_once(words, template):
    answer = template.replace("{units}", " ".join(["cm"] * words))
    start = time.perf_counter()
    result = grade(answer, "1", "math")
    assert time.perf_counter() - start < 0.5, words
    assert result.correct, (answer[:40], result)


def test_input_is_capped_before_normalisation():
    start = time.perf_counter()
    assert extract_answer("x" * 1_000_000 + " so the answer is 1 cm" + " cm" * 4_000 + "!", "math") == "1"
    weird = "\\!{,} ~ " * 100_000
    assert normalize_math(weird).strip() == weird.strip()[: len(weird)]  # too long to be one answer: left as is
    assert time.perf_counter() - start < 0.5


def _kill_idle_workers():
    for worker in sandbox_module._POOL._idle:
        worker.proc.kill()


def test_a_symbolic_timeout_does_not_slow_the_next_call():
    warm_up(workers=1)  # one worker plus the spare
    slow = ("\\boxed{(x+y+z+1)^{40}}", "(x+y+z+2)^{40}")  # passes the screen, sympy needs seconds
    start = time.perf_counter()
    assert grade(slow[0], slow[1], "math", timeout_s=0.3).status == "ungradable"
    assert time.perf_counter() - start < 0.3 + SLACK_S
    start = time.perf_counter()
    assert grade("\\boxed{2\\sqrt{2}}", "\\sqrt{8}", "math", timeout_s=1.0).correct  # the spare answers
    assert time.perf_counter() - start < 1.0 + 0.25


def test_waiting_for_a_fresh_worker_counts_against_timeout_s():
    warm_up(workers=1)
    _kill_idle_workers()  # every worker dead: the next call must start one, within its own budget
    start = time.perf_counter()
    result = grade("\\boxed{2\\sqrt{2}}", "\\sqrt{8}", "math", timeout_s=0.2)
    assert time.perf_counter() - start < 0.2 + 0.25
    assert result.status in ("correct", "ungradable")
    warm_up(workers=1)
    assert grade("\\boxed{2\\sqrt{2}}", "\\sqrt{8}", "math").correct


def test_adversarial_answers_never_raise_run_or_stall(tmp_path):
    warm_up(workers=1)
    sentinel = tmp_path / "SENTINEL"
    task_types = ("math", "mcq", "short", "longform")
    slowest = 0.0
    for i, answer in enumerate(adversarial_answers(250, sentinel, seed=17)):
        pred, gold = (answer, "7") if i % 5 else ("7", answer)
        start = time.perf_counter()
        result = grade(pred, gold, task_types[i % 4], ("7", "8"))
        slowest = max(slowest, time.perf_counter() - start)
        assert result.status in ("correct", "incorrect", "ungradable")
    time.sleep(0.2)  # anything that ran an injection string would have created the file by now
    assert not sentinel.exists()
    assert slowest <= CALL_BOUND_S + SLACK_S, slowest


RUN_UNITS = list(string.printable + "：’−°€") + [
    "a1", "1a", "1 ", "a ", "1,", "1.", "$1", "\\a", "{a", "ab ", "cm ", "x=", "is ", "or ", "and ", "agent ", "A) ",
]


def test_no_regex_is_super_linear_on_any_character_run():
    """A sweep beyond the hand-picked worst cases: runs of every printable character (and common pairs),
    each ended by a character nothing expects, through every grader regex."""
    slow = []
    for name, pattern in PATTERNS:
        for unit in RUN_UNITS:
            for tail in ("", "\x00"):
                text = unit * (4_000 // len(unit)) + tail
                start = time.perf_counter()
                pattern.search(text)
                for _ in pattern.finditer(text):
                    pass
                if time.perf_counter() - start > 0.25:  # linear: < 5 ms; quadratic at 4k characters: seconds
                    slow.append((name, unit))
    assert not slow, slow
