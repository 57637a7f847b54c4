"""Symbolic math equivalence of untrusted answers, bounded in time and memory in any thread (paper §3.2).

Model output is untrusted, so the slow path (sympy through math-verify) is fenced three ways:

1. **Pre-screen** (``screen``, pure string checks, microseconds): length, bracket depth, digit
   runs, exponent towers (``9^9^9^9``, ``10^{10^{10}}``), huge exponents and factorials are refused
   before any parser sees them.
2. **No eval**: answers are parsed only by math-verify's LaTeX grammar (``LatexExtractionConfig``,
   latex2sympy), never by ``sympify``/``parse_expr``, which evaluate Python.
3. **Worker process**: parsing and comparison run in a child process (``python -c`` running
   ``serve()``) with an address-space limit. The caller waits at most ``timeout_s`` for the reply;
   on timeout the child is killed and replaced. This bound works from any thread, unlike
   math-verify's own ``signal.alarm`` timeout, which works only in the main thread.

Each calling thread borrows its own worker from a small pool, so threads never queue behind one
another's slow comparisons. A fresh worker needs about half a second to import sympy. Only the
process's first start is waited for outside ``timeout_s`` (``STARTUP_TIMEOUT_S``; ``warm_up(workers=n)``
pays it ahead of time and keeps one spare beyond the n workers). After that every wait for a
worker counts against the call's ``timeout_s``: a worker killed on timeout is replaced at once, the
replacement warms in the background, and a call that finds no warm worker within its budget is
undecided (None) instead of waiting for one, so a timeout never makes the *next* call slow.
"""

from __future__ import annotations

import json
import logging
import os
import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)

MAX_EXPR_CHARS = 400
MAX_BRACKET_DEPTH = 24
MAX_DIGIT_RUN = 60
MAX_EXPONENT = 2_000
MAX_POWERS = 4
MAX_FACTORIAL = 500
MAX_PROSE_WORDS = 3
WORKER_MEMORY_BYTES = 2 * 1024**3
STARTUP_TIMEOUT_S = 60.0
DEFAULT_TIMEOUT_S = 1.0
MIN_ASK_S = 0.005
PARSE_CACHE = 4096  # parsed answers a worker keeps

_BRACKETS_OPEN, _BRACKETS_CLOSE = "({[", ")}]"
_DIGIT_RUN = re.compile(rf"\d{{{MAX_DIGIT_RUN + 1},}}")
_EXPONENT = re.compile(r"\^\s*(\{(?:[^{}]|\{[^{}]*\})*\}|\\?[A-Za-z]+|[-+]?\d+(?:\.\d+)?)")
_NUMERIC_POWER = re.compile(r"[\d})\]]\s*\^")  # a power of a number or group inside an exponent
_DIGITS = re.compile(r"\d+")
_FACTORIAL_OPERAND = re.compile(r"(?<!\d)(\d+|\})\s*(?:!|\\factorial)")
_PLAIN_RELATIONS = ((">=", " \\geq "), ("<=", " \\leq "), ("!=", " \\neq "), ("==", "="))
_LATEX_COMMAND = re.compile(r"\\[a-zA-Z]+(?:\s*\{[a-zA-Z* ]*\})?")  # \begin{pmatrix}, \text{odd words}
_PROSE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}")
_REFUSED_COMMANDS = re.compile(r"\\(?:def|newcommand|renewcommand|input|include|catcode|csname)\b")


def screen(expr: str) -> str | None:
    """Why ``expr`` is too risky to parse, or None when it may go to the symbolic path.

    Example:
        >>> screen("9^9^9^9")
        'exponent tower'
    """
    if len(expr) > MAX_EXPR_CHARS:
        return f"longer than {MAX_EXPR_CHARS} characters"
    depth = deepest = 0
    for ch in expr:
        if ch in _BRACKETS_OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif ch in _BRACKETS_CLOSE:
            depth -= 1
    if deepest > MAX_BRACKET_DEPTH:
        return f"brackets nested deeper than {MAX_BRACKET_DEPTH}"
    if _DIGIT_RUN.search(expr):
        return f"a number longer than {MAX_DIGIT_RUN} digits"
    if _REFUSED_COMMANDS.search(expr):
        return "TeX macro definition"
    if len(_PROSE.findall(_LATEX_COMMAND.sub(" ", expr))) > MAX_PROSE_WORDS:
        return "prose, not math"  # the LaTeX parser spends up to seconds on sentences and decides nothing
    return _screen_powers(expr)


def _screen_powers(expr: str) -> str | None:
    if expr.count("^") > MAX_POWERS:
        return f"more than {MAX_POWERS} powers"
    for m in _EXPONENT.finditer(expr):
        operand = m.group(1)
        if _NUMERIC_POWER.search(operand) or "!" in operand or "factorial" in operand:
            return "exponent tower"
        tail = expr[m.end() :].lstrip()
        if tail.startswith("^"):
            return "exponent tower"
        digits = _DIGITS.findall(operand)
        if any(len(d) > 4 or int(d) > MAX_EXPONENT for d in digits):
            return f"exponent above {MAX_EXPONENT}"
    for m in _FACTORIAL_OPERAND.finditer(expr):
        operand = m.group(1)
        if operand == "}" or int(operand) > MAX_FACTORIAL:
            return f"factorial of more than {MAX_FACTORIAL} or of an expression"
    if ("!" in expr or "factorial" in expr) and "^" in expr:
        return "factorial together with powers"
    return None


class _Worker:
    """One child process answering ``{"gold", "pred"}`` lines with ``{"equal": true|false|null}``."""

    def __init__(self) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]))
        code = "from agentark_core.answers.sandbox import serve; serve()"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            bufsize=0,
        )
        self.ready = False
        self._buffer = b""

    def _read_line(self, deadline: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = max(0.0, deadline - time.monotonic())  # 0 polls without waiting
            if not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def wait_ready(self, timeout_s: float) -> bool:
        """Whether the worker has finished starting, waiting at most ``timeout_s`` (0: just look)."""
        if not self.ready and self._read_line(time.monotonic() + timeout_s) == b"ready":
            self.ready = True
        return self.ready

    def ask(self, gold: str, pred: str, timeout_s: float) -> bool | None:
        """True/False when the worker decides in time; None when it cannot parse the input."""
        if not self.wait_ready(STARTUP_TIMEOUT_S):
            raise RuntimeError("math worker failed to start")
        self.proc.stdin.write(json.dumps({"gold": gold, "pred": pred}).encode() + b"\n")
        line = self._read_line(time.monotonic() + timeout_s)
        if line is None:
            raise TimeoutError(f"no answer within {timeout_s}s")
        return json.loads(line)["equal"]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


class _Pool:
    """Idle workers shared by threads; a worker that timed out or crashed is killed, never reused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._pid = os.getpid()
        self._warm = False  # a worker has been ready once: later waits count against timeout_s

    def _take(self) -> _Worker:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's children are not ours
                self._idle, self._pid, self._warm = [], os.getpid(), False
            self._idle = [w for w in self._idle if w.proc.poll() is None]
            if self._idle:  # prefer a worker that has finished importing sympy
                ready = [i for i, w in enumerate(self._idle) if w.wait_ready(0)]
                return self._idle.pop(ready[-1] if ready else 0)  # else the one that started first
        return _Worker()

    def warm(self, count: int) -> None:
        with self._lock:
            starting, self._idle = [w for w in self._idle if w.proc.poll() is None], []
        alive = [w for w in starting if self._checked(w)]  # ready means warm: parsed and compared once
        fresh = [_Worker() for _ in range(max(0, count + 1 - len(alive)))]  # +1: a spare for a killed one
        if not all(self._checked(w) for w in fresh):
            raise RuntimeError("math worker failed its self-check")
        with self._lock:
            self._idle.extend(alive + fresh)
            self._warm = True

    @staticmethod
    def _checked(worker: _Worker) -> bool:
        try:
            if worker.ask("1", "1", STARTUP_TIMEOUT_S) is True:
                return True
        except (TimeoutError, RuntimeError, OSError, ValueError):
            pass
        worker.close()
        return False

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            self._idle.append(worker)

    def equal(self, gold: str, pred: str, timeout_s: float) -> bool | None:
        deadline = time.monotonic() + timeout_s
        if timeout_s < MIN_ASK_S:
            return None  # no time left to ask: a worker interrupted mid-answer would have to be killed
        worker = self._take()
        if not worker.wait_ready(0):
            budget = max(0.0, deadline - time.monotonic()) if self._warm else STARTUP_TIMEOUT_S
            if not worker.wait_ready(budget):
                self._give_back(worker)  # it goes on warming for a later call
                logger.warning("no warm math worker within %.2fs: comparison undecided", timeout_s)
                return None
            if not self._warm:  # the process's one-off first start is not charged to this call
                deadline = time.monotonic() + timeout_s
        self._warm = True
        try:
            result = worker.ask(gold, pred, max(0.0, deadline - time.monotonic()))
        except (TimeoutError, RuntimeError, OSError, ValueError) as exc:
            logger.warning("symbolic comparison abandoned (%s): gold=%.80r pred=%.80r", exc, gold, pred)
            worker.close()
            self._give_back(_Worker())  # starts importing now; an idle spare serves the next call meanwhile
            return None
        self._give_back(worker)
        return result


_POOL = _Pool()


def symbolic_equal(gold: str, pred: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool | None:
    """Whether two normalised math answers are equal according to math-verify, within ``timeout_s``.

    Args:
        gold: the ground-truth answer (LaTeX or plain).
        pred: the candidate answer (LaTeX or plain).
        timeout_s: the most seconds to wait for the comparison.

    Returns:
        True / False when decided; None when an input is refused by ``screen``, cannot be parsed,
        or the comparison runs out of time or memory.
    """
    for side in (gold, pred):
        reason = screen(side)
        if reason is not None:
            logger.debug("refused %.80r: %s", side, reason)
            return None
    return _POOL.equal(gold, pred, timeout_s)


def warm_up(workers: int = 1) -> None:
    """Start ``workers`` worker processes (one per thread that will grade) and wait until they answer.

    Args:
        workers: how many workers to have idle and warm, e.g. the size of a grading thread pool.
    """
    _POOL.warm(workers)


def serve() -> None:
    """Worker main loop: read JSON lines on stdin, compare with math-verify, answer on stdout."""
    import functools
    import resource

    from math_verify import LatexExtractionConfig, parse, verify

    logging.disable(logging.WARNING)
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    latex = [LatexExtractionConfig()]

    @functools.lru_cache(maxsize=PARSE_CACHE)  # a gold is compared with every agent's answer: parse it once
    def read(answer: str) -> tuple:
        # only the LaTeX grammar (math-verify's expression config runs sympy's parse_expr, an eval);
        # plain-text relations are spelled as LaTeX first ("x >= 5" -> "x \\geq 5")
        for plain, tex in _PLAIN_RELATIONS:
            answer = answer.replace(plain, tex)
        return tuple(parse(f"${answer}$", latex, parsing_timeout=None))

    out = sys.stdout.buffer
    verify(list(read("\\frac{\\sqrt{8}}{2}")), list(read("\\sqrt{2}")), timeout_seconds=None)  # builds the parser
    out.write(b"ready\n")
    out.flush()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        try:
            gold, pred = read(request["gold"]), read(request["pred"])
            equal = verify(list(gold), list(pred), timeout_seconds=None) if gold and pred else None
        except Exception:  # noqa: BLE001 - hostile input may raise anything: undecided
            equal = None
        out.write(json.dumps({"equal": equal}).encode() + b"\n")
        out.flush()
