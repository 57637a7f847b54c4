"""Prefect flows: one per stage, the pipeline chaining them, and the ``agentark`` CLI."""
