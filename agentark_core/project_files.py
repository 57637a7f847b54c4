"""Where AgentArk's files that are not Python live: ``recipes/``, ``infra/`` and ``prefect.yaml``.

In a source checkout they sit at its top, beside the packages. A wheel installs the same layout
(pyproject.toml ships ``recipes/`` and ``infra/`` as data-only packages and ``prefect.yaml``
beside ``flows/``), so one rule finds them from a checkout, an editable install and an installed
wheel alike: the folder that holds the ``agentark_core`` package.

Example:
    >>> DEMO_RECIPE.name, ACCELERATE_DIR.parent.name
    ('demo.yaml', 'infra')
"""

from __future__ import annotations

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
"""The checkout, or the install folder (``site-packages``) of an installed wheel."""

DEMO_RECIPE = PROJECT_DIR / "recipes" / "demo.yaml"
"""The embedded demo recipe (``agentark demo``; ``agentark run`` without a recipe)."""

ACCELERATE_DIR = PROJECT_DIR / "infra" / "accelerate"
"""``accelerate launch`` configs for several GPUs (``ddp``, ``zero2``, ``zero3``)."""

WORK_POOLS_DIR = PROJECT_DIR / "infra" / "work_pools"
"""Prefect work-pool base job templates and ``pools.yaml``."""

PREFECT_YAML = PROJECT_DIR / "prefect.yaml"
"""The deployments ``agentark server up`` deploys."""
