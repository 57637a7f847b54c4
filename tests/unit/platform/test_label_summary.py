"""The label stage's summary counts ungradable answers per dataset and per agent (issue 17 item 3)."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from tasks.stages.label import COLUMNS, summarize


def _label(question_id: str, agent_id: int, round_: int, status: str) -> dict:
    return {"question_id": question_id, "agent_id": agent_id, "role": "agent" if agent_id >= 0 else "aggregator",
            "round": round_, "answer": "1", "status": status, "verdict": status, "correct": status == "correct",
            "verifier": "rule"}


def test_label_summary_counts_ungradable_per_dataset_and_agent_and_warns_per_agent():
    rows = []
    for q in ("m1", "m2", "c1", "c2"):  # agent 1 writes nothing readable on the MedMCQA questions
        rows += [_label(q, 0, 1, "correct"), _label(q, 1, 1, "ungradable" if q.startswith("c") else "incorrect"),
                 _label(q, -1, 2, "correct")]
    questions = {q: SimpleNamespace(dataset="gsm8k" if q.startswith("m") else "medmcqa") for q in ("m1", "m2", "c1", "c2")}
    ctx = SimpleNamespace(scratch={"questions": questions},
                          output_frames=lambda: iter([pd.DataFrame(rows, columns=COLUMNS)]))
    summary = summarize(ctx)
    assert summary["ungradable_by_dataset"] == {"gsm8k": {"n": 6, "ungradable": 0, "rate": 0.0},
                                                "medmcqa": {"n": 6, "ungradable": 2, "rate": 0.3333}}
    assert summary["ungradable_by_agent"] == {"0": {"n": 4, "ungradable": 0, "rate": 0.0},
                                              "1": {"n": 4, "ungradable": 2, "rate": 0.5},
                                              "aggregator": {"n": 4, "ungradable": 0, "rate": 0.0}}
    assert summary["warnings"] == ["17% of 12 answers are ungradable (no answer the verifier could read)",
                                   "agent 1: 2 of 4 answers are ungradable"]
    assert summary["final_round_agent_accuracy_n"] == 8  # ungradable answers are in the n, never correct
