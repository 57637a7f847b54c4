"""Scripted generation backends that recipes can name by dotted path (``tests.fake_backends:oracle``).

The oracle knows each question's answer (passed as a recipe option) and behaves like a
debating teacher: in round 1 (a single user message) every ``wrong_every``-th request
answers wrong; once a prompt shows peers' answers (later rounds, aggregator) it answers
right. That yields wrong->right corrective trajectories with known counts.
"""

from __future__ import annotations

import itertools

from agentark_core.llm.scripted import ScriptedGenerator


def oracle(model: str, answers: dict[str, str], wrong_every: int = 2, **_ignored) -> ScriptedGenerator:
    counter = itertools.count()

    def reply(request, call_index: int) -> str:
        text = request.messages[0]["content"] if len(request.messages) == 1 else request.messages[-1]["content"]
        gt = next((a for q, a in answers.items() if q in request.messages[0]["content"]), None)
        if gt is None:
            return "I do not know."
        first_round = len(request.messages) == 1 and "solutions" not in text.lower()
        if first_round and next(counter) % wrong_every == 0:
            return f"Step 1: I add wrongly.\nFinal Answer: {int(gt) + 1}"
        return f"Step 1: I compute carefully.\nStep 2: I check it.\nFinal Answer: {gt}"

    return ScriptedGenerator(reply)


class BackendDown(RuntimeError):
    """What a real backend raises when its server is unreachable."""


def failing(model: str, answers: dict[str, str], fail_on: str, **_ignored) -> ScriptedGenerator:
    """The oracle, except that any batch holding a prompt containing ``fail_on`` raises."""
    inner = oracle(model, answers)

    class Failing(ScriptedGenerator):
        def generate(self, requests, params):
            if any(fail_on in r.messages[0]["content"] for r in requests):
                raise BackendDown(f"backend unreachable while serving {len(requests)} requests")
            return inner.generate(requests, params)

    return Failing(lambda request, index: "")


GENERATED: list[int] = []  # the batch size of every generate call of a ``counted`` backend (tests read it)


def counted(model: str, answers: dict[str, str], wrong_every: int = 2, **_ignored) -> ScriptedGenerator:
    """The oracle, recording each generate call's batch size in ``GENERATED``."""
    inner = oracle(model, answers, wrong_every)

    class Counted(ScriptedGenerator):
        def generate(self, requests, params):
            GENERATED.append(len(requests))
            return inner.generate(requests, params)

    return Counted(lambda request, index: "")


def judge(model: str, scores: dict[str, int], invalid_every: int = 0, **_ignored) -> ScriptedGenerator:
    """A reasoning judge replying ``scores`` as JSON; every ``invalid_every``-th first reply is prose."""
    import json

    counter = itertools.count(1)

    def reply(request, call_index: int) -> str:
        if invalid_every and call_index == 0 and next(counter) % invalid_every == 0:
            return "The reasoning looks fine to me."
        return json.dumps(scores)

    return ScriptedGenerator(reply)
