"""Input rows for the trainers: accept a pandas DataFrame or a list of dicts, check the contract, return dicts.

The platform hands training data over as DataFrames (schemas live outside the core);
the trainers only need plain records, so this module is the one place that turns either
form into ``list[dict]`` and names the row and column of anything malformed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any


def as_records(examples: Any, columns: Mapping[str, type | tuple[type, ...]], what: str) -> list[dict]:
    """Convert ``examples`` to a list of dicts and check the required columns and their types.

    Args:
        examples: a pandas DataFrame (anything with ``to_dict("records")``) or an iterable of mappings.
        columns: required column name -> accepted Python type(s).
        what: name of the data set, used in error messages (e.g. ``"sft_examples"``).

    Returns:
        One dict per row, with at least the required columns.

    Raises:
        ValueError: empty input or a missing column; TypeError: a value of the wrong type (both name row
            and column).
    """
    rows = examples.to_dict("records") if hasattr(examples, "to_dict") else [dict(r) for r in examples]
    if not rows:
        raise ValueError(f"{what}: no rows to train on")
    for i, row in enumerate(rows):
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(f"{what} row {i}: missing column(s) {missing}; required: {sorted(columns)}")
        for name, kind in columns.items():
            value = row[name]
            if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
                value = row[name] = value.tolist()  # numpy arrays / scalars from parquet
            if isinstance(value, bool) and kind in (int, float, (int, float)):
                raise TypeError(f"{what} row {i}, column {name!r}: expected a number, got a bool")
            if not isinstance(value, kind):
                raise TypeError(
                    f"{what} row {i}, column {name!r}: expected {_type_name(kind)}, got {type(value).__name__}"
                )
    return rows


def check_weight(value: float, row: int, what: str) -> float:
    """Return ``value`` as a float if it is a finite number ≥ 0, else raise naming the row."""
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} row {row}, column 'weight': must be finite and >= 0, got {value!r}")
    return float(value)


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds: Iterable[type] = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)
