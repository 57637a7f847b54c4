"""Prediction-vs-reference metrics of the evaluation stage (paper §4 and App. D).

Every metric has ONE signature and is looked up by name in ``METRICS``:

    metric(predictions: Sequence[str], references: Sequence[str | Sequence[str]], **kwargs) -> MetricResult

``references[i]`` is one reference string or a list of them; a metric scores item i
against its best reference (max over references). Keyword arguments are
metric-specific and documented on each metric (``accuracy`` needs ``task_type``).

* ``accuracy``: ``agentark_core.answers.grade`` — the one correctness judgement of the
  project; ungradable counts as wrong and is reported in ``details["ungradable"]``.
* ``exact_match`` / ``token_f1``: SQuAD-style on ``normalize_short`` (lower-case, no
  punctuation, no articles a/an/the, single spaces; numbers keep their decimal point,
  as in ``grade`` for short answers).
* ``rouge1`` / ``rouge2`` / ``rougeL``: F-measure from the ``rouge_score`` package.
* ``bleu``: corpus BLEU from ``sacrebleu`` (0-100 scale), sentence BLEU per item.
* ``bertscore``: F1 from the optional ``bert-score`` package; skipped (not crashed)
  when the package or its model is unavailable.

Reasoning perplexity scores a model rather than predictions, so it lives in
``agentark_core.evaluate.perplexity`` (same ``MetricResult``).

Example:
    >>> METRICS.get("token_f1")(["The Eiffel Tower"], ["Eiffel Tower in Paris"]).value
    0.6666666666666666
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentark_core.answers.normalize import normalize_short
from agentark_core.registry import Registry

log = logging.getLogger(__name__)

Reference = str | Sequence[str]


@dataclass(frozen=True)
class MetricResult:
    """A metric's value over a set of items.

    Attributes:
        value: the corpus-level value (mean of ``per_item`` unless the metric says otherwise);
            None when the metric was skipped or there were no items.
        n: number of items scored.
        per_item: one score per item, in input order (empty when skipped).
        skipped: True when the metric could not run (missing package or model).
        note: why it was skipped, or other remarks.
        details: extra named counts (e.g. ``{"ungradable": 3}`` for accuracy).
    """

    value: float | None
    n: int
    per_item: list[float] = field(default_factory=list)
    skipped: bool = False
    note: str = ""
    details: dict[str, float] = field(default_factory=dict)


Metric = Callable[..., MetricResult]
METRICS: Registry[Metric] = Registry("metric")


def compute_metric(
    name: str, predictions: Sequence[str], references: Sequence[Reference], **kwargs
) -> MetricResult:
    """Run metric ``name`` (``METRICS.names()``); unknown names fail with the valid list."""
    return METRICS.get(name)(predictions, references, **kwargs)


def reference_lists(predictions: Sequence[str], references: Sequence[Reference]) -> list[list[str]]:
    """Check the inputs and return each item's references as a non-empty list of strings.

    Raises:
        ValueError: lengths differ, or an item has no reference.
        TypeError: a prediction or reference is not a string, naming its index.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    out = []
    for i, (pred, ref) in enumerate(zip(predictions, references)):
        if not isinstance(pred, str):
            raise TypeError(f"prediction {i} must be a str, got {type(pred).__name__}")
        refs = [ref] if isinstance(ref, str) else list(ref)
        if not refs:
            raise ValueError(f"item {i} has no reference")
        bad = [r for r in refs if not isinstance(r, str)]
        if bad:
            raise TypeError(f"references of item {i} must be str, got {type(bad[0]).__name__}")
        out.append(refs)
    return out


def _mean_result(per_item: list[float], **extra) -> MetricResult:
    value = sum(per_item) / len(per_item) if per_item else None
    return MetricResult(value, len(per_item), per_item, **extra)


def _per_item(values: Sequence | str, n: int, name: str) -> list:
    """Broadcast one value to n items, or check a per-item sequence has n entries."""
    if isinstance(values, str):
        return [values] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries for {n} items")
    return values


def grade_items(
    predictions: Sequence[str],
    references: Sequence[Reference],
    task_type: str | Sequence[str],
    choices: Sequence[Sequence[str]] | None = None,
):
    """``grade`` every prediction against its references; the best status over references wins.

    Args:
        predictions: full responses or extracted answers.
        references: ground-truth answer(s) per item.
        task_type: one task type for all items, or one per item.
        choices: per-item MCQ option texts (None: no options).

    Returns:
        One ``agentark_core.answers.Grade`` per item.
    """
    from agentark_core.answers import grade

    refs = reference_lists(predictions, references)
    types = _per_item(task_type, len(refs), "task_type")
    options = _per_item(choices, len(refs), "choices") if choices is not None else [()] * len(refs)
    rank = {"correct": 0, "incorrect": 1, "ungradable": 2}
    grades = []
    for pred, gts, tt, opts in zip(predictions, refs, types, options):
        candidates = [grade(pred, gt, tt, tuple(opts)) for gt in gts]
        grades.append(min(candidates, key=lambda g: rank[g.status]))
    return grades


@METRICS.register("accuracy")
def accuracy(
    predictions: Sequence[str],
    references: Sequence[Reference],
    task_type: str | Sequence[str] = "math",
    choices: Sequence[Sequence[str]] | None = None,
) -> MetricResult:
    """Fraction of predictions that ``grade`` judges correct; ungradable counts as wrong.

    Args:
        task_type: "math" | "mcq" | "short" | "longform", for all items or one per item.
        choices: per-item option texts for mcq items.

    Returns:
        per_item 1.0/0.0; ``details["ungradable"]`` is the number of ungradable items.
    """
    grades = grade_items(predictions, references, task_type, choices)
    ungradable = sum(g.status == "ungradable" for g in grades)
    return _mean_result([float(g.correct) for g in grades], details={"ungradable": float(ungradable)})


def _token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalize_short(prediction).split(), normalize_short(reference).split()
    if not pred or not ref:
        return float(pred == ref)  # SQuAD: both empty scores 1, one empty scores 0
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


@METRICS.register("token_f1")
def token_f1(predictions: Sequence[str], references: Sequence[Reference]) -> MetricResult:
    """SQuAD token F1 (bag of normalised tokens), max over each item's references."""
    refs = reference_lists(predictions, references)
    return _mean_result([max(_token_f1(p, r) for r in rs) for p, rs in zip(predictions, refs)])


@METRICS.register("exact_match")
def exact_match(predictions: Sequence[str], references: Sequence[Reference]) -> MetricResult:
    """1.0 when the normalised prediction equals any normalised reference, else 0.0."""
    refs = reference_lists(predictions, references)
    return _mean_result(
        [float(any(normalize_short(p) == normalize_short(r) for r in rs)) for p, rs in zip(predictions, refs)]
    )


def _rouge(kind: str) -> Metric:
    def rouge(
        predictions: Sequence[str], references: Sequence[Reference], use_stemmer: bool = True
    ) -> MetricResult:
        from rouge_score import rouge_scorer

        refs = reference_lists(predictions, references)
        scorer = rouge_scorer.RougeScorer([kind], use_stemmer=use_stemmer)
        return _mean_result(
            [max(scorer.score(r, p)[kind].fmeasure for r in rs) for p, rs in zip(predictions, refs)]
        )

    rouge.__name__ = kind
    rouge.__doc__ = f"{kind} F-measure (``rouge_score``), max over each item's references."
    return rouge


for _kind in ("rouge1", "rouge2", "rougeL"):
    METRICS.register(_kind)(_rouge(_kind))


@METRICS.register("bleu")
def bleu(predictions: Sequence[str], references: Sequence[Reference]) -> MetricResult:
    """Corpus BLEU (sacrebleu, 0-100) as ``value``; sentence BLEU of each item as ``per_item``.

    Items may have different numbers of references (sacrebleu skips the missing ones).
    """
    import sacrebleu

    refs = reference_lists(predictions, references)
    width = max((len(rs) for rs in refs), default=0)
    streams = [[rs[j] if j < len(rs) else None for rs in refs] for j in range(width)]
    per_item = [sacrebleu.sentence_bleu(p, rs).score for p, rs in zip(predictions, refs)]
    value = sacrebleu.corpus_bleu(list(predictions), streams).score if refs else None
    return MetricResult(value, len(per_item), per_item)


@METRICS.register("bertscore")
def bertscore(
    predictions: Sequence[str],
    references: Sequence[Reference],
    model_type: str = "roberta-large",
    num_layers: int | None = None,
    batch_size: int = 32,
    device: str | None = None,
) -> MetricResult:
    """BERTScore F1 (``bert-score`` package), max over each item's references.

    Args:
        model_type: the encoder, a hub name or a local path (offline runs need a local path
            and ``num_layers``).
        num_layers: encoder layer to use; None lets bert-score pick its default for ``model_type``.

    Returns:
        The mean F1, or a result with ``skipped=True`` and a ``note`` when the package or the
        model cannot be loaded (never raises for those).
    """
    refs = reference_lists(predictions, references)
    try:
        import bert_score
    except ImportError:
        note = "bertscore skipped: package bert-score is not installed (pip install bert-score)"
        log.warning(note)
        return MetricResult(None, 0, skipped=True, note=note)
    flat_preds = [p for p, rs in zip(predictions, refs) for _ in rs]
    flat_refs = [r for rs in refs for r in rs]
    try:
        _, _, f1 = bert_score.score(
            flat_preds,
            flat_refs,
            model_type=model_type,
            num_layers=num_layers,
            batch_size=batch_size,
            device=device,
        )
    except (OSError, KeyError, ValueError) as err:  # model missing offline, unknown model type
        note = f"bertscore skipped: model {model_type!r} unavailable ({type(err).__name__}: {err})"
        log.warning(note)
        return MetricResult(None, 0, skipped=True, note=note)
    scores, start = [], 0
    for rs in refs:
        scores.append(max(float(x) for x in f1[start : start + len(rs)]))
        start += len(rs)
    return _mean_result(scores)
