"""load_questions plumbing: local files and hub ids share one path, sampling, errors; math + MCQ adapters."""

from __future__ import annotations

import pytest

from agentark_core.data import DATASETS, RowError, load_questions
from agentark_core.data.math_sets import MATH_SUBJECTS

GSM8K_ROWS = [
    {
        "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
        "in May. "
        "How many clips did Natalia sell altogether in April and May?",
        "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
        "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
    },
    {
        "question": "A shop sells 40 lamps at 30 dollars each. How much money does it make?",
        "answer": "It makes 40 * 30 = <<40*30=1200>>1200 dollars.\n#### 1,200",
    },
]


def test_gsm8k_ground_truth_and_gold_reasoning(write_rows):
    path = write_rows(GSM8K_ROWS, "gsm8k.jsonl")
    qs = load_questions("gsm8k", path, split="test")
    assert [q.gt for q in qs] == ["72", "1200"]
    assert [q.task_type for q in qs] == ["math", "math"]
    assert qs[0].query == GSM8K_ROWS[0]["question"]
    assert qs[0].gold_reasoning.endswith("72 clips altogether in April and May.")
    assert "<<" not in qs[0].gold_reasoning and "####" not in qs[0].gold_reasoning
    assert {q.split for q in qs} == {"test"} and {q.dataset for q in qs} == {"gsm8k"}


def test_same_rows_give_same_ids_across_loads_and_file_formats(write_rows):
    first = load_questions("gsm8k", write_rows(GSM8K_ROWS, "a.jsonl"))
    again = load_questions("gsm8k", write_rows(GSM8K_ROWS, "b.parquet"))
    as_csv = load_questions("gsm8k", write_rows(GSM8K_ROWS, "c.csv"))
    assert [q.question_id for q in first] == [q.question_id for q in again] == [q.question_id for q in as_csv]
    assert len({q.question_id for q in first}) == 2


def test_limit_sampling_is_seeded_and_prefix_stable(write_rows):
    rows = [
        {"question": f"What is {i} plus 1?", "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"} for i in range(12)
    ]
    path = write_rows(rows, "many.jsonl")
    three = [q.gt for q in load_questions("gsm8k", path, limit=3, seed=5)]
    assert three == [q.gt for q in load_questions("gsm8k", path, limit=3, seed=5)]
    assert [q.gt for q in load_questions("gsm8k", path, limit=6, seed=5)][:3] == three
    samples = {tuple(q.gt for q in load_questions("gsm8k", path, limit=3, seed=s)) for s in range(4)}
    assert len(samples) > 1
    assert len(load_questions("gsm8k", path, limit=50)) == 12
    assert [q.gt for q in load_questions("gsm8k", path)] == [str(i + 1) for i in range(12)]


def test_missing_field_names_dataset_field_and_row(write_rows):
    rows = [GSM8K_ROWS[0], {"question": "How many?"}]
    with pytest.raises(RowError, match=r"gsm8k: row 1 .*missing field 'answer'"):
        load_questions("gsm8k", write_rows(rows, "bad.jsonl"))
    no_marker = [{"question": "How many?", "answer": "It is 3."}]
    with pytest.raises(RowError, match=r"row 0 .*'####"):
        load_questions("gsm8k", write_rows(no_marker, "bad2.jsonl"))


def test_bad_sources_and_names_fail_clearly(tmp_path):
    with pytest.raises(KeyError, match="valid: gsm8k, hotpotqa"):
        load_questions("gsm9k")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_questions("gsm8k", str(tmp_path / "missing.jsonl"))
    (tmp_path / "rows.txt").write_text("x")
    with pytest.raises(ValueError, match=r"valid suffixes: \.jsonl"):
        load_questions("gsm8k", str(tmp_path / "rows.txt"))


def test_hub_ids_are_passed_to_load_dataset(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split, kwargs))
        # one distinct problem per config, so concatenation is visible (identical rows would be one question)
        return datasets.Dataset.from_list(GSM8K_ROWS if path == "openai/gsm8k"
                                          else [{**MATH_ROW, "problem": f"{MATH_ROW['problem']} ({name})"}])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    qs = load_questions("gsm8k", split="train")
    assert calls == [("openai/gsm8k", "main", "train", {})]
    assert [q.gt for q in qs] == ["72", "1200"] and qs[0].split == "train"

    calls.clear()
    assert len(load_questions("math")) == len(MATH_SUBJECTS)
    assert calls == [("EleutherAI/hendrycks_math", s, "test", {}) for s in MATH_SUBJECTS]
    calls.clear()
    load_questions("math", config="algebra", split="train")
    assert calls == [("EleutherAI/hendrycks_math", "algebra", "train", {})]
    calls.clear()
    load_questions("math500", source="someone/my-math-mirror")
    assert calls == [("someone/my-math-mirror", None, "test", {})]


MATH_ROW = {
    "problem": "If $f(x) = \\frac{x}{2}$, what is $f(1)$?",
    "level": "Level 1",
    "type": "Algebra",
    "solution": "We have $\\boxed{2}$ as a typo; so $f(1) = \\boxed{\\frac{1}{2}}$.",
}


def test_math_takes_last_boxed_with_nested_braces_or_the_answer_field(write_rows):
    (q,) = load_questions("math", write_rows([MATH_ROW], "math.jsonl"))
    assert q.gt == "\\frac{1}{2}" and q.gold_reasoning == MATH_ROW["solution"]
    math500 = {
        "problem": "Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.",
        "solution": "... so the polar coordinates are $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}.$",
        "answer": "\\left( 3, \\frac{\\pi}{2} \\right)",
        "subject": "Precalculus",
        "level": 2,
        "unique_id": "test/precalculus/807.json",
    }
    (q,) = load_questions("math500", write_rows([math500], "math500.json"))
    assert q.gt == math500["answer"] and q.dataset == "math500"
    no_answer = dict(MATH_ROW, solution="We cannot tell.")
    with pytest.raises(RowError, match="boxed"):
        load_questions("math", write_rows([no_answer], "bad.jsonl"))


def test_metamathqa_answer_is_line(write_rows):
    rows = [
        {
            "query": "James buys 5 packs of beef that are 4 pounds each. How many pounds does he buy?",
            "response": "He buys 5 * 4 = 20 pounds.\nThe answer is: 20",
            "type": "GSM_Rephrased",
            "original_question": "James buys 5 packs of beef that are 4 pounds each.",
        },
        {
            "query": "Solve $x+1=3$.",
            "response": "So $x = 2$.\nThe answer is: 2",
            "type": "MATH_AnsAug",
            "original_question": "Solve $x+1=3$.",
        },
    ]
    qs = load_questions("metamathqa", write_rows(rows, "mmqa.jsonl"), split="train")
    assert [q.gt for q in qs] == ["20", "2"]
    assert qs[0].gold_reasoning == "He buys 5 * 4 = 20 pounds."
    with pytest.raises(RowError, match="The answer is"):
        load_questions("metamathqa", write_rows([dict(rows[0], response="20")], "bad.jsonl"))


MEDMCQA_ROWS = [
    {
        "id": "a1",
        "question": "Which vitamin deficiency causes scurvy?",
        "opa": "Vitamin A",
        "opb": "Vitamin B12",
        "opc": "Vitamin C",
        "opd": "Vitamin D",
        "cop": 2,
        "choice_type": "single",
        "exp": "Ascorbic acid deficiency leads to scurvy.",
        "subject_name": "Biochemistry",
        "topic_name": None,
    },
    {
        "id": "a2",
        "question": "Normal adult heart rate (beats per minute) is?",
        "opa": "60-100",
        "opb": "20-40",
        "opc": "120-160",
        "opd": "200-220",
        "cop": 0,
        "choice_type": "single",
        "exp": None,
        "subject_name": "Physiology",
        "topic_name": None,
    },
]


def test_medmcqa_letters_choices_and_unlabelled_rows(write_rows):
    qs = load_questions("medmcqa", write_rows(MEDMCQA_ROWS, "medmcqa.jsonl"), split="validation")
    assert [q.gt for q in qs] == ["C", "A"]
    assert qs[0].choices == ("Vitamin A", "Vitamin B12", "Vitamin C", "Vitamin D")
    assert qs[0].task_type == "mcq" and qs[0].gold_reasoning.startswith("Ascorbic")
    assert qs[1].gold_reasoning == ""
    unlabelled = [dict(MEDMCQA_ROWS[0], cop=-1)]
    with pytest.raises(RowError, match=r"medmcqa: row 0 .*'cop'.*validation"):
        load_questions("medmcqa", write_rows(unlabelled, "test.jsonl"))
    no_option = [{k: v for k, v in MEDMCQA_ROWS[0].items() if k != "opd"}]
    with pytest.raises(RowError, match="missing field 'opd'"):
        load_questions("medmcqa", write_rows(no_option, "noopd.jsonl"))


def test_every_dataset_family_is_registered():
    expected = {
        "gsm8k",
        "math",
        "math500",
        "metamathqa",
        "medmcqa",
        "hotpotqa",
        "qasper",
        "qmsum",
        "truthfulqa",
        "toy",
    }
    assert set(DATASETS.names()) == expected


def test_local_directory_splits_by_file_name(tmp_path, write_rows):
    folder = tmp_path / "gsm8k_dir"
    folder.mkdir()
    for split, rows in (("train", GSM8K_ROWS[:1]), ("test", GSM8K_ROWS[1:])):
        write_rows(rows, f"gsm8k_dir/{split}.jsonl")
    assert [q.gt for q in load_questions("gsm8k", str(folder), split="train")] == ["72"]
    assert [q.gt for q in load_questions("gsm8k", str(folder), split="test")] == ["1200"]
