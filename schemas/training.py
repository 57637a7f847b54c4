"""Training sets and checkpoints: ``sft_examples``, ``prm_examples``, ``checkpoints`` (paper §3.3)."""

import pandera.pandas as pa
from pandera.typing import Series

from schemas.base import ArtifactModel, is_json_text, is_list_of_int, is_list_of_str, register


@register("sft_examples", version=1)
class SftExamplesSchema(ArtifactModel):
    """R-SFT and DA rows; the completion is ``reasoning + "\\n" + answer`` (answer span weighted)."""

    example_id: Series[str] = pa.Field(unique=True)
    question_id: Series[str]
    kind: Series[str] = pa.Field(isin=["rsft", "da"])
    prompt: Series[str] = pa.Field(str_length={"min_value": 1})
    reasoning: Series[str]
    answer: Series[str] = pa.Field(str_length={"min_value": 1})
    weight: Series[float] = pa.Field(gt=0)
    group_size: Series[int] = pa.Field(ge=1)

    class Config:
        name = "sft_examples"


@register("prm_examples", version=1, list_columns=("steps", "step_labels"))
class PrmExamplesSchema(ArtifactModel):
    """One row per trace, split into steps with per-step labels (contrastive groups by position)."""

    question_id: Series[str]
    trace_id: Series[str] = pa.Field(unique=True)
    prompt: Series[str]
    steps: Series[object]
    step_labels: Series[object]
    is_correct: Series[bool]
    source: Series[str]

    @pa.check("steps", name="list_of_str")
    def _steps(cls, s):
        return is_list_of_str(s)

    @pa.check("step_labels", name="list_of_int")
    def _labels(cls, s):
        return is_list_of_int(s)

    @pa.dataframe_check(name="one_label_per_step")
    def _aligned(cls, df):
        return df["steps"].map(len) == df["step_labels"].map(len)

    class Config:
        name = "prm_examples"


@register("checkpoints", version=1)
class CheckpointsSchema(ArtifactModel):
    """A trained model: the row points at an HF-format folder stored inside the artifact."""

    route: Series[str]
    base_model: Series[str]
    path: Series[str] = pa.Field(str_length={"min_value": 1})
    kind: Series[str] = pa.Field(isin=["causal_lm", "prm"])
    metrics_json: Series[str]

    @pa.check("metrics_json", name="json_text")
    def _metrics(cls, s):
        return is_json_text(s)

    class Config:
        name = "checkpoints"
