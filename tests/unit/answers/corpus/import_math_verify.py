"""Rebuild ``math_verify.jsonl`` from Math-Verify's published parametrised tests (facts, not code).

Reads the test files of a local clone of github:huggingface/Math-Verify at a pinned commit with
``ast`` (nothing from it is imported or run) and writes one case per literal parametrised row:
the row's ``pred`` is the model output, ``gold`` the reference, ``expected`` 1/0 becomes
"correct"/"incorrect". Rows checked under non-default options that change the verdict
(``strict=False``, ``allow_set_relation_comp=True``) are left out; other options are kept in
``options``. Each case keeps its provenance: repository, commit, path, line and test name.

Run:
    python tests/unit/answers/corpus/import_math_verify.py /path/to/Math-Verify > math_verify.jsonl
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = "huggingface/Math-Verify"
FILES = ("tests/test_all.py", "tests/test_boxed.py", "tests/test_numina_cases.py",
         "tests/test_open_thoughts.py", "tests/test_yujianll.py", "tests/test_strict.py")
LEFT_OUT = {"strict": False, "allow_set_relation_comp": True}
# published verdicts that contradict arithmetic, left out and named here (file, line): 1 + 1/e is not 1 - 1/e
DISPUTED = {("tests/test_yujianll.py", 28)}


def _rows(tree: ast.Module):
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        for deco in fn.decorator_list:
            if not (isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "parametrize"):
                continue
            names = [s.strip() for s in ast.literal_eval(deco.args[0]).split(",")]
            for row in deco.args[1].elts:
                try:
                    values = ast.literal_eval(row)
                except ValueError:
                    continue  # computed at import time (f-strings of math.sqrt): not a literal fact
                yield fn.name, row.lineno, dict(zip(names, values))


def main(clone: Path) -> None:
    commit = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    for path in FILES:
        tree = ast.parse((clone / path).read_text())
        for test, line, row in _rows(tree):
            expected = row.pop("expected", row.pop("result", None))
            gold, pred = row.pop("gold", None), row.pop("pred", None)
            if expected not in (0, 1) or gold is None or pred is None:
                continue
            if any(row.get(k) == v for k, v in LEFT_OUT.items()) or (path, line) in DISPUTED:
                continue
            print(json.dumps({
                "response": pred, "gold": gold, "task_type": "math",
                "expected": "correct" if expected else "incorrect",
                "source": "math-verify", "category": f"mv:{test.removeprefix('test_')}",
                "ref": f"{REPO}@{commit[:12]}:{path}:{line}", "options": row,
            }, ensure_ascii=False))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
