"""The check memo (``agentark_core.check_cache``) and the field specs it keeps for ``FieldsOf`` sections.

A rerun of a checked recipe must not import the trainer configs (TRL: ~5 s of the demo's cached
rerun) yet refuse exactly what a first check refuses, and coerce values the same way.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from agentark_core import check_cache
from agentark_core.check_cache import fingerprint, memo
from agentark_core.config_loader import ConfigError, Unchecked, decode_type, encode_type, field_spec
from agentark_core.recipe import GRPO_FIELDS, PPO_FIELDS, PRM_FIELDS, SFT_FIELDS, TOY_MODEL_FIELDS

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(check_cache.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def counting(value):
    calls = []

    def compute():
        calls.append(1)
        return value

    return compute, calls


def test_memo_computes_once_per_kind_and_payload(cache):
    compute, calls = counting({"ok": [1, 2]})
    assert memo("k", {"a": 1}, compute, roots=(), dists=()) == {"ok": [1, 2]}
    assert memo("k", {"a": 1}, compute, roots=(), dists=()) == {"ok": [1, 2]}
    assert len(calls) == 1
    memo("k", {"a": 2}, compute, roots=(), dists=())
    memo("other", {"a": 1}, compute, roots=(), dists=())
    assert len(calls) == 3


def test_memo_key_follows_the_code_under_its_roots(cache, tmp_path):
    code = tmp_path / "pkg"
    code.mkdir()
    (code / "a.py").write_text("X = 1\n")
    before = fingerprint((str(code),), ("pytest",))
    (code / "a.py").write_text("X = 2\n")
    fingerprint.cache_clear()
    assert fingerprint((str(code),), ("pytest",)) != before
    assert fingerprint((str(code),), ("pytest",)) != fingerprint((str(code),), ("no-such-dist-xyz",))


def test_a_failing_check_is_not_kept(cache):
    def failing():
        raise ValueError("bad value")

    for _ in range(2):
        with pytest.raises(ValueError, match="bad value"):
            memo("k", 1, failing, roots=(), dists=())
    assert not list(cache.rglob("*.json")), "a failed check left a memo entry"


def test_memo_off_and_unwritable_folders_still_compute(tmp_path, monkeypatch):
    compute, calls = counting(3)
    monkeypatch.setenv(check_cache.CACHE_ENV, "off")
    assert memo("k", 1, compute, roots=(), dists=()) == 3
    assert memo("k", 1, compute, roots=(), dists=()) == 3
    assert len(calls) == 2
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(check_cache.CACHE_ENV, str(blocker / "cache"))
    assert memo("k", 1, compute, roots=(), dists=()) == 3


def test_a_corrupt_entry_is_recomputed(cache):
    compute, calls = counting(5)
    memo("k", 1, compute, roots=(), dists=())
    (entry,) = cache.rglob("*.json")
    entry.write_text("{not json")
    assert memo("k", 1, compute, roots=(), dists=()) == 5
    assert len(calls) == 2
    assert json.loads(entry.read_text()) == {"value": 5}


@pytest.mark.parametrize("spec", [SFT_FIELDS, PRM_FIELDS, GRPO_FIELDS, PPO_FIELDS, TOY_MODEL_FIELDS],
                         ids=lambda s: s.target.rsplit(":", 1)[1])
def test_field_types_survive_the_memo(spec, cache):
    """Every field's hint, encoded to JSON and decoded, accepts the field's own default as the
    original hint does (and the same bad value is refused both ways)."""
    from agentark_core.config_loader import _coerce

    cls = spec.resolve()
    hints = typing.get_type_hints(cls)
    known = field_spec(spec)
    assert known == json.loads(json.dumps(known))
    checked = 0
    for f in dataclasses.fields(cls):
        if f.name not in known["names"] or f.default is dataclasses.MISSING:
            continue
        if not isinstance(f.default, (bool, int, float, str, type(None))):
            continue
        decoded = decode_type(known["types"][f.name])
        assert _coerce(decoded, f.default, "x", f.name) == _coerce(hints[f.name], f.default, "x", f.name)
        for bad in ([1, 2], {"a": 1}):
            outcomes = []
            for tp in (hints[f.name], decoded):
                try:
                    outcomes.append(("ok", _coerce(tp, bad, "x", f.name)))
                except ConfigError:
                    outcomes.append(("refused",))
            assert outcomes[0] == outcomes[1], f"{f.name}: {outcomes}"
        checked += 1
    assert checked >= 5


def test_encode_type_shapes():
    assert encode_type(int | None) == {"union": ["int", "none"]}
    assert encode_type(list[str]) == {"list": "str"}
    assert encode_type(tuple[int, ...]) == {"tuple": "int"}
    assert encode_type(dict[str, float]) == {"dict": "float"}
    assert encode_type(typing.Literal["a", 1]) == {"literal": ["a", 1]}
    assert encode_type(typing.Callable[[int], int]) == "opaque"
    import enum

    class Mode(enum.Enum):
        A = "a"

    assert encode_type(Mode | str) == {"union": [{"enum": "Mode"}, "str"]}
    from agentark_core.config_loader import _coerce

    decoded = decode_type(encode_type(Mode | str))  # a string goes to the str member, as with the Enum
    assert _coerce(decoded, "a", "x", "k") == _coerce(Mode | str, "a", "x", "k") == "a"
    with pytest.raises(ConfigError):
        _coerce(decode_type({"enum": "Mode"}), "a", "x", "k")
    assert decode_type("opaque") is Unchecked
    assert decode_type({"class": "pathlib:Path"}) is Path


def run_check(cache: Path, *overrides: str) -> subprocess.CompletedProcess:
    """Load + validate the demo recipe in a fresh interpreter; prints the heavy modules it imported."""
    code = (
        "import sys\n"
        "from agentark_core.recipe import load_recipe\n"
        "from tasks.validate import validate_recipe\n"
        "validate_recipe(load_recipe('recipes/demo.yaml', sys.argv[1:]), 'demo')\n"
        "print(sorted(m for m in ('trl', 'transformers', 'torch') if m in sys.modules))\n"
    )
    env = {**os.environ, check_cache.CACHE_ENV: str(cache), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code, *overrides], check=False, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_checked_recipe_is_checked_again_without_trl(tmp_path):
    cache = tmp_path / "cache"
    first = run_check(cache)
    assert first.returncode == 0, first.stderr
    assert "trl" in first.stdout  # the first check builds the trainer configs
    again = run_check(cache)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "[]", again.stdout
    # a changed value is a new check (the route's config builder refuses it), never a memo hit
    bad = run_check(cache, "train.grpo.beta=-1")
    assert bad.returncode != 0 and "beta must be >= 0" in bad.stderr
    # unknown keys and wrong types are refused from the kept field specs alone
    typo = run_check(cache, "train.grpo.num_generation=4")
    assert typo.returncode != 0 and "did you mean num_generations" in typo.stderr
    wrong = run_check(cache, "train.grpo.beta=abc")
    assert wrong.returncode != 0 and "expected float" in wrong.stderr
