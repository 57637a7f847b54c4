"""The graders ours is compared with on the corpus: math-verify as a user calls it, and an lm-eval-style extractor.

* ``math_verify_correct``: ``verify(parse(gold), parse(response))`` with math-verify's default
  extraction configs (LaTeX + expression); MCQ through its ``StringExtractionConfig`` (letters).
* ``lm_eval_correct``: lm-evaluation-harness's GSM8K semantics written out from its task YAML
  (``gsm8k.yaml``, ``gsm8k-cot.yaml``): the strict-match filter (``#### N`` or ``The answer is N``,
  first match), else the flexible-extract filter (the last number-like token), compared by exact
  match after removing "," and "$" and a trailing "." (its ``regexes_to_ignore``), ignoring case.
  MCQ: the first standalone capital letter A-J, exact match. No symbolic equivalence.
"""

from __future__ import annotations

import re

from . import Case

_STRICT = (re.compile(r"#### (\-?[0-9\.\,]+)"), re.compile(r"The answer is (\-?[0-9\.\,]+)\."),
           re.compile(r"The final answer is ((-?[$0-9.,]{2,})|(-?[0-9]+))"))
_FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
_LETTER = re.compile(r"\b([A-J])\b")
_IGNORE = (re.compile(","), re.compile(r"\$"), re.compile(r"(?s).*#### "), re.compile(r"\.$"))


def _lm_eval_clean(s: str) -> str:
    for pattern in _IGNORE:
        s = pattern.sub("", s)
    return s.strip().lower()


def lm_eval_extract(text: str) -> str | None:
    """The answer lm-eval's GSM8K filters take: strict-match if it matches, else flexible-extract."""
    for pattern in _STRICT:
        m = pattern.search(text)
        if m:
            return m.group(1)
    found = [m.group(0) for m in _FLEXIBLE.finditer(text)]
    return found[-1] if found else None


def lm_eval_correct(case: Case) -> bool:
    """lm-eval-style verdict: extracted answer equals the gold after the exact-match cleaning."""
    if case.task_type == "mcq":
        m = _LETTER.search(case.response)
        return bool(m) and m.group(1) == case.gold.strip()
    found = lm_eval_extract(case.response)
    return found is not None and _lm_eval_clean(found) == _lm_eval_clean(case.gold)


def math_verify_correct(case: Case) -> bool:
    """math-verify's verdict with its default configuration (never raises: an error is "not correct")."""
    from math_verify import StringExtractionConfig, parse, verify

    try:
        if case.task_type == "mcq":
            config = [StringExtractionConfig()]
            return bool(verify(parse(case.gold, config), parse(case.response, config)))
        return bool(verify(parse(case.gold), parse(case.response)))
    except Exception:  # noqa: BLE001 - a crash of the peer counts as a wrong verdict, as in use
        return False
