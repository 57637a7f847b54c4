"""Knowledge extraction from debate logs (paper §3.2, App. A.3–A.4): trajectories and training sets.

Per shard of questions: ``agent_rounds`` joins turns with labels; ``build_trajectories``
applies the correctness filter (|A_correct| >= 2), flags corrective trajectories and the
consensus answer; ``build_rsft`` / ``build_da`` / ``build_prm`` make the R-SFT, DA and PRM
sets. ``extract_shard`` runs all of it on one shard.
"""

from agentark_core.extract.diverse import (
    SelectionStats,
    build_da,
    greedy_diverse,
    judge_prompt,
    lcs_length,
    parse_selection,
    structural_distance,
)
from agentark_core.extract.inputs import agent_rounds, question_from_row, questions_by_id
from agentark_core.extract.prm_sets import build_prm, divergence_labels, trace_id
from agentark_core.extract.sft_sets import build_rsft, example_id, rsft_picks, student_prompt
from agentark_core.extract.shard import ExtractConfig, ShardOutput, extract_shard
from agentark_core.extract.steps import (
    STEP_SPLITTERS,
    split_final_answer,
    split_steps,
    step_shape,
    trace_pattern,
)
from agentark_core.extract.trajectories import TrajectoryStats, build_trajectories

__all__ = [
    "STEP_SPLITTERS",
    "ExtractConfig",
    "SelectionStats",
    "ShardOutput",
    "TrajectoryStats",
    "agent_rounds",
    "build_da",
    "build_prm",
    "build_rsft",
    "build_trajectories",
    "divergence_labels",
    "example_id",
    "extract_shard",
    "greedy_diverse",
    "judge_prompt",
    "lcs_length",
    "parse_selection",
    "question_from_row",
    "questions_by_id",
    "rsft_picks",
    "split_final_answer",
    "split_steps",
    "step_shape",
    "structural_distance",
    "student_prompt",
    "trace_id",
    "trace_pattern",
]
