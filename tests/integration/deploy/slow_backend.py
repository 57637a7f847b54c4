"""A slowed-down oracle teacher (``tests.integration.deploy.slow_backend:slow_oracle``), so a
test can kill a pipeline while its debate stage is still running."""

from __future__ import annotations

import time

from tests.fake_backends import oracle


class SlowGenerator:
    """Sleeps ``delay_s`` before each batch, then answers like the wrapped generator."""

    def __init__(self, inner, delay_s: float) -> None:
        self.inner, self.delay_s = inner, delay_s

    def generate(self, requests, params):
        time.sleep(self.delay_s)
        return self.inner.generate(requests, params)


def slow_oracle(model: str, delay_s: float = 1.0, **options) -> SlowGenerator:
    return SlowGenerator(oracle(model, **options), delay_s)
