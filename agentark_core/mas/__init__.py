"""MAS protocols as pure state machines batched by round across questions (paper §3.2).

``run_protocol(name, questions, generator, config) -> list[Turn]`` runs any
registered protocol (``PROTOCOLS.names()``: cot, debate, mad, self_consistency);
each protocol has its own config dataclass (``make_config(name, mapping)`` builds
it from a recipe).
"""

from agentark_core.mas.base import PROTOCOLS, SamplingConfig, Turn, make_config, run_protocol
from agentark_core.mas.debate import DebateConfig
from agentark_core.mas.mad import MadConfig
from agentark_core.mas.voting import CotConfig, SelfConsistencyConfig

__all__ = [
    "PROTOCOLS", "CotConfig", "DebateConfig", "MadConfig", "SamplingConfig", "SelfConsistencyConfig",
    "Turn", "make_config", "run_protocol",
]
