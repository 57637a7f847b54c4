"""Dataset adapter plumbing: the ``dataset`` registry, one row-loading path, field access (paper §4).

Every loaded dataset goes through :func:`load_rows`, which calls ``datasets.load_dataset``
for a hub id, a local directory, or a local ``.jsonl/.json/.parquet/.csv`` file alike,
then through the dataset's pure row mapper ``(row, *, dataset, split, **options) ->
list[Question]``. Mappers raise :class:`RowError`; the loader prefixes the dataset
name and the row index so a bad file is easy to fix. Every question then passes the data
policy (``policy.py``: gold answers, lengths, digits, duplicates).
"""

from __future__ import annotations

import codecs
import inspect
import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agentark_core.data.policy import DuplicateChecker, PolicyError, apply_policy
from agentark_core.data.question import Question
from agentark_core.registry import Registry

logger = logging.getLogger(__name__)

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}

RowMapper = Callable[..., list[Question]]


class RowError(ValueError):
    """A raw row lacks a field or holds a malformed one (the loader adds dataset and row index)."""


class DatasetAdapter(Protocol):
    """What the ``dataset`` registry holds: anything that can produce a list of questions."""

    def load(
        self, dataset: str, source: str | None, split: str, limit: int | None, seed: int, **options: Any
    ) -> list[Question]: ...


DATASETS: Registry[DatasetAdapter] = Registry("dataset")


def get(row: dict, *path: str) -> Any:
    """The value at ``row[path[0]][path[1]]...``; missing or None raises :class:`RowError` naming the path.

    Example:
        >>> get({"context": {"title": ["a"]}}, "context", "title")
        ['a']
    """
    value: Any = row
    for depth, key in enumerate(path):
        if not isinstance(value, dict) or value.get(key) is None:
            raise RowError(f"missing field {'.'.join(path[: depth + 1])!r}")
        value = value[key]
    return value


def text(row: dict, *path: str) -> str:
    """The string at ``path`` (see :func:`get`); another type raises :class:`RowError` naming the field.

    Example:
        >>> text({"question": "2+2?"}, "question")
        '2+2?'
    """
    value = get(row, *path)
    if not isinstance(value, str):
        raise RowError(f"field {'.'.join(path)!r} must be text, got {type(value).__name__} {value!r:.40}")
    return value


def records(value: Any, field: str) -> list[dict]:
    """A list of dicts from a HF dict-of-equal-length-lists or an original list-of-dicts field.

    Example:
        >>> records({"query": ["a", "b"], "answer": ["x", "y"]}, "qas")
        [{'query': 'a', 'answer': 'x'}, {'query': 'b', 'answer': 'y'}]
    """
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    if isinstance(value, dict) and all(isinstance(column, list) for column in value.values()):
        lengths = {len(column) for column in value.values()}
        if len(lengths) <= 1:
            return [dict(zip(value, items)) for items in zip(*value.values())]
    raise RowError(f"field {field!r} must be a list of records or a dict of equal-length lists")


def load_rows(source: str, configs: tuple[str | None, ...], split: str):
    """Load raw rows with ``datasets.load_dataset``, from a hub id or a local file/directory.

    Args:
        source: a hub id (``"openai/gsm8k"``), a local directory, or a local data file.
        configs: hub config names to load and concatenate (``(None,)`` for the default one).
        split: the split to load; a single local file is read as that split.

    Returns:
        A ``datasets.Dataset`` of raw rows.
    """
    from datasets import concatenate_datasets, load_dataset

    path = Path(source)
    if path.is_file():
        builder = FILE_BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise ValueError(f"unsupported data file {source!r}; valid suffixes: {', '.join(FILE_BUILDERS)}")
        check_text_file(path)
        try:
            with _quiet_datasets():
                return load_dataset(builder, data_files={split: str(path)}, split=split)
        except Exception as exc:  # datasets/pyarrow wrap parse errors in many types; the root cause names it
            raise ValueError(f"cannot read data file {source!r} as {builder}: {_root_cause(exc)}") from exc
    if not path.exists() and (source.startswith((".", "/", "~")) or path.suffix in FILE_BUILDERS):
        raise FileNotFoundError(f"local dataset source {source!r} does not exist")
    parts = [load_dataset(source, config, split=split) for config in configs]
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def sample_order(n_rows: int, limit: int | None, seed: int) -> list[int]:
    """Row indices to visit: file order without a limit, else a seeded shuffle (same seed, same order).

    A larger ``limit`` with the same seed extends a smaller one's sample (prefix-stable).
    """
    order = list(range(n_rows))
    if limit is not None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        random.Random(seed).shuffle(order)
    return order


@dataclass(frozen=True)
class RowAdapter:
    """A dataset read from rows: its default hub id and configs plus a pure row mapper.

    Attributes:
        hub_id: hub id loaded when no ``source`` is given.
        map_row: ``(row, *, dataset, split, **options) -> list[Question]``.
        configs: hub configs loaded (and concatenated) from ``hub_id`` when no ``config`` option is given.
    """

    hub_id: str
    map_row: RowMapper
    configs: tuple[str | None, ...] = (None,)

    def check_options(self, source: str | None, **options: Any) -> None:
        """Refuse an option neither ``load`` (``config``) nor the row mapper takes, reading nothing
        (recipe validation calls it before any stage runs).

        Raises:
            TypeError: naming the option and the valid ones.
        """
        options = {k: v for k, v in options.items() if k != "config"}
        signature = inspect.signature(self.map_row)
        try:
            signature.bind({}, dataset="", split="", **options)
        except TypeError as err:
            valid = ["config", *(n for n, p in signature.parameters.items()
                                 if p.kind is p.KEYWORD_ONLY and n not in ("dataset", "split"))]
            raise TypeError(f"{err}; its options: {', '.join(valid)}") from None

    def load(
        self, dataset: str, source: str | None, split: str, limit: int | None, seed: int, **options: Any
    ) -> list[Question]:
        """Load rows (option ``config`` picks one hub config), sample, map; mapper options pass through."""
        config = options.pop("config", None)
        source = source or self.hub_id
        configs = (config,) if config else self.configs if source == self.hub_id else (None,)
        rows = load_rows(source, configs, split)
        questions: list[Question] = []
        duplicates = DuplicateChecker()
        for index in sample_order(len(rows), limit, seed):
            if limit is not None and len(questions) >= limit:
                break
            where = f"row {index} of {source!r}"
            try:
                mapped = [apply_policy(q) for q in self.map_row(rows[index], dataset=dataset, split=split, **options)]
            except (RowError, PolicyError) as err:
                raise RowError(f"{dataset}: {where}: {err}") from None
            except (TypeError, AttributeError) as err:  # a field of an unexpected type the mapper tripped on
                raise RowError(f"{dataset}: {where}: malformed field ({err})") from None
            try:
                questions.extend(q for q in mapped if duplicates.keep(q, where))
            except PolicyError as err:
                raise RowError(f"{dataset}: {err}") from None
        if duplicates.dropped:
            logger.info("%s: dropped %d repeated questions (same gold answer)", dataset, duplicates.dropped)
        logger.info("loaded %d %s questions (%s, split %s)", len(questions), dataset, source, split)
        return questions[:limit] if limit is not None else questions


def check_text_file(path: Path) -> None:
    """A local data file must not be empty, and a text one (jsonl/json/csv) must be UTF-8 throughout.

    Read once in 1 MiB blocks; the error names the line and byte offset of the first bad byte.
    """
    if path.stat().st_size == 0:
        raise ValueError(f"data file {str(path)!r} is empty")
    if path.suffix.lower() == ".parquet":
        return
    decoder, offset, line = codecs.getincrementaldecoder("utf-8")(), 0, 1
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                at = offset + err.start
                line += block[: err.start].count(b"\n")
                raise ValueError(f"data file {str(path)!r} is not UTF-8: byte {at} (line {line}) is "
                                 f"{block[err.start:err.start + 1]!r}; re-save it as UTF-8") from None
            offset += len(block)
            line += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ValueError(f"data file {str(path)!r} is not UTF-8: it ends inside a multi-byte character") from None


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    """No progress bars or error logs from ``datasets`` while it reads a local file: the error it
    would log is raised (once, naming the file) by the caller instead."""
    from datasets.utils import logging as ds_logging

    bars_were_on = ds_logging.is_progress_bar_enabled()
    level = ds_logging.get_verbosity()
    ds_logging.disable_progress_bar()
    ds_logging.set_verbosity(ds_logging.CRITICAL)
    try:
        yield
    finally:
        ds_logging.set_verbosity(level)
        if bars_were_on:
            ds_logging.enable_progress_bar()


def _root_cause(exc: BaseException) -> str:
    """The innermost cause's message, on one line (what actually was wrong with the file)."""
    outer = exc
    while exc.__cause__ is not None or (exc.__context__ is not None and not exc.__suppress_context__):
        exc = exc.__cause__ or exc.__context__
    if not str(exc).strip():
        exc = outer
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
