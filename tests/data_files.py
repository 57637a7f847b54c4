"""Small dataset files in real layouts, shared by integration tests."""

from __future__ import annotations

import json
from pathlib import Path

GSM8K_ROWS = [
    {"question": "Tom has 3 apples and buys 4 more. How many apples?", "answer": "3 + 4 = 7\n#### 7"},
    {"question": "A box holds 12 pens. How many pens in 3 boxes?", "answer": "12 * 3 = 36\n#### 36"},
    {"question": "Sara had 1,200 stamps and gave away 200. How many left?", "answer": "1200-200=1000\n#### 1,000"},
    {"question": "Ann reads 5 pages a day. How many pages in 6 days?", "answer": "5*6=30\n#### 30"},
]


def gsm8k_answers(rows: list[dict] = GSM8K_ROWS) -> dict[str, str]:
    """question -> final answer (what the oracle teacher needs)."""
    return {r["question"]: r["answer"].split("####")[1].strip().replace(",", "") for r in rows}


def write_gsm8k(path: Path, rows: list[dict] = GSM8K_ROWS, with_reasoning: bool = True) -> Path:
    """A GSM8K-layout jsonl file; without reasoning the answers are ``#### N`` only."""
    if not with_reasoning:
        rows = [{"question": q, "answer": f"#### {a}"} for q, a in gsm8k_answers(rows).items()]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path
