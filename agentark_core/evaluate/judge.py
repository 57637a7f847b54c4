"""LLM judge of reasoning quality (paper App. E): 1-5 scores on four criteria.

Any ``Generator`` can judge (paper: InternLM-2.5-20B-Chat). The judge must reply with
ONE JSON object holding exactly the four criteria as integers 1-5, optionally inside
a fenced ```json block and nothing else. Replies are parsed strictly; invalid items
(and only those) are re-asked in one batch per retry, with the reason they failed.
Items still invalid after the retries are counted and listed, never scored. The
paper judges 100 samples per dataset: ``JudgeConfig.sample_size`` with a seed.

Example:
    >>> result = judge_reasoning(items, generator, JudgeConfig(sample_size=100, seed=0))  # doctest: +SKIP
    >>> result.means["step_decomposition"], result.n_invalid                               # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from agentark_core.llm.reasoning import answer_of
from agentark_core.llm.types import ChatRequest, Generator, SamplingParams

log = logging.getLogger(__name__)

CRITERIA = ("step_decomposition", "intermediate_verification", "error_localisation", "reasoning_coherence")
_FENCED = re.compile(r"\A```(?:json)?[ \t]*\n(.*)\n[ \t]*```\Z", re.DOTALL)

JUDGE_PROMPT = """You are grading the reasoning of a solution, not only its final answer.

Problem:
{question}

Solution:
{response}

Score the solution from 1 (very poor) to 5 (excellent) on each criterion:
- step_decomposition: the problem is broken into clear, well-ordered intermediate steps.
- intermediate_verification: intermediate results are checked rather than taken on trust.
- error_localisation: mistakes are noticed, located precisely and corrected.
- reasoning_coherence: every step follows from the previous ones without gaps or contradictions.

Reply with only this JSON object, integers 1-5, no other text:
{{"step_decomposition": <int>, "intermediate_verification": <int>, "error_localisation": <int>, \
"reasoning_coherence": <int>}}"""

RETRY_PROMPT = (
    "Your reply was invalid: {reason}. Reply again with only the JSON object holding the four "
    "integer scores 1-5 (keys: " + ", ".join(CRITERIA) + "), no other text."
)


class InvalidJudgeReply(ValueError):
    """A judge reply that is not exactly the expected JSON object."""


@dataclass(frozen=True)
class JudgeItem:
    """One response to judge: its id (unique within a call), the problem and the full response."""

    item_id: str
    question: str
    response: str


@dataclass(frozen=True)
class JudgeConfig:
    """Judge settings.

    Args:
        sample_size: items judged, drawn at random with ``seed`` (paper: 100 per dataset);
            None judges all.
        seed: sampling seed for the item draw and the judge's decoding.
        max_retries: re-asks of invalid replies (0: none).
        temperature, max_tokens: the judge's decoding.
    """

    sample_size: int | None = 100
    seed: int = 0
    max_retries: int = 2
    temperature: float = 0.0
    max_tokens: int = 256

    def __post_init__(self) -> None:
        if self.sample_size is not None and self.sample_size < 1:
            raise ValueError(f"JudgeConfig.sample_size must be >= 1 or None, got {self.sample_size}")
        if self.max_retries < 0:
            raise ValueError(f"JudgeConfig.max_retries must be >= 0, got {self.max_retries}")


@dataclass(frozen=True)
class JudgeResult:
    """Scores of the judged items.

    Attributes:
        scores: item_id -> {criterion: 1-5}, valid items only.
        invalid: item_id -> why its last reply was rejected (invalid after all retries).
        means: criterion -> mean score over valid items (None when none is valid).
        n_judged: items sent to the judge (after sampling).
        calls: ``generate`` calls made (1 + retries used).
    """

    scores: dict[str, dict[str, int]]
    invalid: dict[str, str]
    means: dict[str, float | None]
    n_judged: int
    calls: int

    @property
    def n_invalid(self) -> int:
        return len(self.invalid)


def parse_judge_reply(text: str) -> dict[str, int]:
    """Parse a judge reply strictly.

    Accepts a JSON object with exactly the keys ``CRITERIA`` and integer values 1-5, bare or
    inside one fenced ```json block; anything else (prose around it, missing or extra keys,
    floats, strings, out-of-range values) raises ``InvalidJudgeReply`` saying what is wrong.

    Example:
        >>> parse_judge_reply('{"step_decomposition": 4, "intermediate_verification": 3, '
        ...                   '"error_localisation": 2, "reasoning_coherence": 5}')["error_localisation"]
        2
    """
    body = text.strip()
    fenced = _FENCED.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        obj = json.loads(body)
    except json.JSONDecodeError:
        raise InvalidJudgeReply(f"not a JSON object: {text.strip()[:60]!r}") from None
    if not isinstance(obj, dict):
        raise InvalidJudgeReply(f"expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in CRITERIA if k not in obj]
    extra = sorted(set(obj) - set(CRITERIA))
    if missing or extra:
        raise InvalidJudgeReply(f"missing keys {missing}, unexpected keys {extra}")
    for key in CRITERIA:
        value = obj[key]
        if type(value) is not int:
            raise InvalidJudgeReply(f"{key} must be an integer 1-5, got {value!r}")
        if not 1 <= value <= 5:
            raise InvalidJudgeReply(f"{key} must be in 1-5, got {value}")
    return {k: obj[k] for k in CRITERIA}


def sample_items(items: Sequence[JudgeItem], sample_size: int | None, seed: int) -> list[JudgeItem]:
    """``sample_size`` items drawn without replacement with ``seed``, kept in input order."""
    if sample_size is None or sample_size >= len(items):
        return list(items)
    keep = sorted(random.Random(seed).sample(range(len(items)), sample_size))
    return [items[i] for i in keep]


def judge_reasoning(
    items: Sequence[JudgeItem], generator: Generator, config: JudgeConfig | None = None
) -> JudgeResult:
    """Score sampled items on the four criteria; one batched call, then one per retry.

    Args:
        items: responses to judge, with unique ``item_id``.
        generator: the judge model, any ``Generator``.
        config: ``JudgeConfig`` (defaults: 100 samples, seed 0, 2 retries).

    Returns:
        A ``JudgeResult``; items invalid after the retries are in ``invalid`` and not scored.
    """
    config = config or JudgeConfig()
    duplicates = sorted(i for i, n in Counter(it.item_id for it in items).items() if n > 1)
    if duplicates:
        raise ValueError(f"duplicate judge item_id(s) {duplicates[:5]}")
    chosen = sample_items(items, config.sample_size, config.seed)
    chats = {
        it.item_id: (
            {"role": "user", "content": JUDGE_PROMPT.format(question=it.question, response=it.response)},
        )
        for it in chosen
    }
    scores: dict[str, dict[str, int]] = {}
    invalid: dict[str, str] = {}
    pending, calls = [it.item_id for it in chosen], 0
    while pending and calls <= config.max_retries:
        params = SamplingParams(config.temperature, 1.0, config.max_tokens, config.seed + calls)
        replies = generator.generate([ChatRequest(messages=chats[i]) for i in pending], params)
        calls += 1
        if len(replies) != len(pending):
            raise ValueError(f"judge returned {len(replies)} replies for {len(pending)} requests")
        retry = []
        for item_id, reply in zip(pending, replies):
            try:
                scores[item_id] = parse_judge_reply(answer_of(reply))
                invalid.pop(item_id, None)
            except InvalidJudgeReply as err:
                invalid[item_id] = str(err)
                chats[item_id] = chats[item_id][:1] + (
                    {"role": "assistant", "content": answer_of(reply)},
                    {"role": "user", "content": RETRY_PROMPT.format(reason=err)},
                )
                retry.append(item_id)
        pending = retry
    if invalid:
        log.warning(
            "judge: %d of %d items invalid after %d retries", len(invalid), len(chosen), config.max_retries
        )
    means = {k: (sum(s[k] for s in scores.values()) / len(scores) if scores else None) for k in CRITERIA}
    return JudgeResult(scores, invalid, means, len(chosen), calls)
