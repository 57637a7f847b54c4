"""Shared fixtures of the dataset-adapter tests: an isolated datasets cache and a row-file writer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_datasets_cache(tmp_path, monkeypatch):
    """Keep ``datasets`` cache files of local test files out of the user's cache."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")


@pytest.fixture
def write_rows(tmp_path):
    """``write_rows(rows, "name.jsonl")`` -> path of a local jsonl/json/parquet/csv file of the rows."""

    def write(rows: list[dict], name: str) -> str:
        path = Path(tmp_path) / name
        if path.suffix == ".jsonl":
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        elif path.suffix == ".json":
            path.write_text(json.dumps(rows))
        else:
            import pandas as pd

            frame = pd.DataFrame(rows)
            frame.to_parquet(path) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
        return str(path)

    return write
