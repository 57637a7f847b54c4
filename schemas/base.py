"""Versioned pandera schemas for every artifact kind, and validation with readable errors.

Each artifact kind has one ``DataFrameModel`` registered with a name and a version
(``@register("questions", version=1)``). ``validate(df, "questions")`` checks a frame
lazily and, on failure, raises ``SchemaViolation`` naming the schema, each failing
column, the check and up to 5 failing rows, so a stage can refuse to publish.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

MAX_ROWS_SHOWN = 5


class SchemaViolation(ValueError):
    """A frame does not match its artifact schema."""


@dataclass(frozen=True)
class SchemaSpec:
    name: str
    version: int
    model: type[pa.DataFrameModel]
    list_columns: tuple[str, ...] = ()


_SCHEMAS: dict[str, SchemaSpec] = {}


def register(name: str, version: int, list_columns: tuple[str, ...] = ()):
    """Class decorator adding a DataFrameModel to the schema table (duplicates refused)."""

    def decorator(model: type[pa.DataFrameModel]) -> type[pa.DataFrameModel]:
        if name in _SCHEMAS:
            raise ValueError(f"schema {name!r} is already registered")
        _SCHEMAS[name] = SchemaSpec(name, version, model, list_columns)
        return model

    return decorator


def get_schema(name: str) -> SchemaSpec:
    if name not in _SCHEMAS:
        raise KeyError(f"unknown schema {name!r}; valid: {', '.join(sorted(_SCHEMAS))}")
    return _SCHEMAS[name]


def schema_names() -> list[str]:
    return sorted(_SCHEMAS)


def validate(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Validate (and coerce) ``df`` against schema ``name``; list columns become Python lists."""
    spec = get_schema(name)
    df = _lists_to_python(df, spec.list_columns)
    try:
        return spec.model.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise SchemaViolation(_describe(spec, exc.failure_cases)) from None


def _lists_to_python(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    todo = [c for c in columns if c in df.columns]
    if not todo:
        return df
    df = df.copy()
    for col in todo:
        df[col] = df[col].map(lambda v: v.tolist() if isinstance(v, np.ndarray) else v)
    return df


def _describe(spec: SchemaSpec, cases: pd.DataFrame) -> str:
    lines = [f"{spec.name} v{spec.version}: {len(cases)} failure(s)"]
    for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        rows = [r for r in group["index"].tolist() if pd.notna(r)][:MAX_ROWS_SHOWN]
        values = [repr(v)[:60] for v in group["failure_case"].tolist()[:MAX_ROWS_SHOWN]]
        where = f" rows {rows}" if rows else ""
        lines.append(f"  column {column!r} failed {check}{where}: {', '.join(values)}")
    return "\n".join(lines)


def is_list_of_str(series: pd.Series) -> pd.Series:
    """Element check: each cell is a list (or array) of strings."""
    return series.map(
        lambda v: isinstance(v, (list, tuple, np.ndarray)) and all(isinstance(x, str) for x in v)
    )


def is_list_of_int(series: pd.Series) -> pd.Series:
    return series.map(
        lambda v: isinstance(v, (list, tuple, np.ndarray))
        and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in v)
    )


def is_json_text(series: pd.Series) -> pd.Series:
    import json

    def ok(v) -> bool:
        try:
            json.loads(v)
            return True
        except (TypeError, ValueError):
            return False

    return series.map(ok)


class ArtifactModel(pa.DataFrameModel):
    """Base of every artifact schema: exact column set, coercion to the declared dtypes."""

    class Config:
        strict = True
        coerce = True
