"""Run counters of the extraction stage that add up across shards (streamed extraction, paper §3.2)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Counts:
    """Base of the integer counter records: ``a + b`` adds field by field (shard totals)."""

    def __add__(self, other: Counts) -> Counts:
        if type(other) is not type(self):
            return NotImplemented
        return type(self)(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
