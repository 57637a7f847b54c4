"""Adversarial model answers for the grader's fuzz runs (unit test: a few hundred; bench: ``--fuzz 100000``).

Kinds: code-injection strings (each would create ``sentinel`` if anything ran it), unit-word runs
after a number (the shape that once backtracked for minutes), exponent towers, brackets nested
10k deep, megabyte-long text, and random splices of all of them with answer markers.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

UNITS = ("cm", "m", "hours", "square feet", "kg", "dollars", "people", "times", "percent")
MARKERS = ("The answer is ", "Final Answer: ", "**Final Answer:** ", "#### ", "\\boxed{", "$", "Answer: (", "")


def injections(sentinel: Path) -> list[str]:
    """Strings that create ``sentinel`` if anything evaluates them (Python, shell, sympy's parser)."""
    cmd = f"touch {sentinel}"
    calls = [
        f"__import__('os').system('{cmd}')",
        f"exec(\"import os; os.system('{cmd}')\")",
        f"eval(\"__import__('os').system('{cmd}')\")",
        f"().__class__.__bases__[0].__subclasses__()[0].__init__.__globals__['os'].system('{cmd}')",
        f"open('{sentinel}', 'w').write('x')",
        f"Lambda(x, __import__('os').system('{cmd}'))",
        f"$(touch {sentinel})",
        f"`touch {sentinel}`",
    ]
    return [f"{marker}{call}" for call in calls for marker in MARKERS]


def _unit_run(rng: random.Random) -> str:
    unit = rng.choice(UNITS)
    words = rng.choice((24, 100, 1000, 5000))
    return f"{rng.choice(MARKERS)}1 {unit}" + f" {unit}" * words + rng.choice(("!", ".", "", "?"))


def _tower(rng: random.Random) -> str:
    base = rng.choice(("9", "10", "2", "x"))
    height = rng.randint(3, 40)
    braced = rng.random() < 0.5
    tower = base + "".join(f"^{{{base}" if braced else f"^{base}" for _ in range(height)) + "}" * height * braced
    return rng.choice(MARKERS) + tower


def _nesting(rng: random.Random) -> str:
    opener, closer = rng.choice((("(", ")"), ("{", "}"), ("[", "]"), ("\\frac{", "}{2}"), ("\\sqrt{", "}")))
    depth = 10_000
    return rng.choice(MARKERS) + opener * depth + "1" + closer * depth * rng.randint(0, 1)


def _megabyte(rng: random.Random) -> str:
    chunk = rng.choice(("a", "1", " ", "$", "\\", "cm ", "1,", "{", "Final Answer: ", "(A) "))
    return chunk * (1_000_000 // len(chunk)) + rng.choice(("", "\\boxed{1}", "Final Answer: 7"))


def _splice(rng: random.Random) -> str:
    parts = ["\\boxed{", "}", "{", "(", ")", "^", "^{", "**", "!", "9", "10", "-", "\\frac{", "$", "\\$", "%",
             ",", ".", "=", " ", "\n", "####", "Final Answer:", "Agent 2's final answer", "(B)", "A ", "X",
             "\\text{", "\\pi", "∞", "\x00", "cm", "\\!", "{,}", "or", "\\quad"]
    return "".join(rng.choice(parts) for _ in range(rng.randint(1, 400)))


GENERATORS = (_unit_run, _tower, _nesting, _megabyte, _splice)


def adversarial_answers(n: int, sentinel: Path, seed: int = 0) -> Iterator[str]:
    """``n`` adversarial answers: every injection string first, then generated ones in a fixed mix.

    Megabyte answers are one in fifty (they cost the most to build, not to grade).
    """
    rng = random.Random(seed)
    fixed = injections(sentinel)
    yield from fixed[:n]
    for i in range(max(0, n - len(fixed))):
        generator = _megabyte if i % 50 == 49 else rng.choice(GENERATORS[:3] + GENERATORS[4:])
        yield generator(rng)
