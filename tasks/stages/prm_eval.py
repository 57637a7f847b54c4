"""The PRM route's manifest summary: the training numbers plus how good the PRM is on held-out questions.

``train_prm`` trains on the PRM set's questions minus ``train.prm.heldout_fraction`` of them
(``agentark_core.train.prm_train.split_examples``); this summary takes the held-out rest and records
under ``prm_eval`` (``agentark_core.evaluate.prm_eval.evaluate_prm``): step AUROC, accuracy and
ranking accuracy against the step labels, and best-of-N reranking of the student's own samples
(N in ``train.prm.eval_best_of``) against random pick, majority vote and oracle. A PRM whose
best-of-N does not beat the majority vote gets a loud warning (and the report flags it).
"""

from __future__ import annotations

import logging

from tasks.runner import StageContext
from tasks.stages.checkpoints import local_model_dir
from tasks.stages.common import generator_for, loud, merge_warnings, questions_from_frame
from tasks.stages.routes import training_summary

log = logging.getLogger(__name__)
QUESTIONS = "ingest"  # the training questions (their answers grade the student's best-of-N samples)
READS = ("student.backend", "student.options")  # the student generator the best-of-N samples come from


def prm_summary(ctx: StageContext) -> dict:
    """:func:`training_summary` plus ``prm_eval`` (held-out step metrics and best-of-N)."""
    from agentark_core.train.prm_train import split_examples
    from tasks.stages.train import prm_config

    out = training_summary(ctx)
    config = prm_config(ctx.recipe)
    if config.heldout_fraction == 0:
        return out
    _, rows = split_examples(ctx.input_frame("prm_data"), config)
    if not rows:
        return merge_warnings(out, loud(ctx.stage.name, [
            f"no question held out (train.prm.heldout_fraction={config.heldout_fraction}): PRM not evaluated"]))
    out["prm_eval"] = evaluate_checkpoint(ctx, rows, config)
    flags = beaten_by_majority(out["prm_eval"])
    if flags:
        out = merge_warnings(out, loud(ctx.stage.name, flags))
    return out


def evaluate_checkpoint(ctx: StageContext, rows: list[dict], config) -> dict:
    """Load this stage's PRM and evaluate it on the held-out ``rows`` and their questions."""
    import torch

    from agentark_core.evaluate.prm_eval import evaluate_prm
    from agentark_core.train.prm_model import PRM

    row = next(ctx.output_frames()).iloc[0]
    prm = PRM.load(local_model_dir(ctx, row["path"])).to("cuda" if torch.cuda.is_available() else "cpu")
    held = {r["question_id"] for r in rows}
    questions = ctx.input_frame(QUESTIONS)
    questions = questions_from_frame(questions[questions["question_id"].isin(held)])
    section = ctx.recipe.student
    generator = generator_for(ctx, "student", section.backend, section.options)
    sampling = {"temperature": config.eval_temperature, "max_tokens": config.eval_max_tokens, "seed": config.seed}
    result = evaluate_prm(prm, rows, questions, generator, config.eval_best_of, sampling, config.eval_aggregation)
    log.info("%s: held-out PRM evaluation %s", ctx.stage.name, result)
    return result


def beaten_by_majority(prm_eval: dict) -> list[str]:
    """One message per N where the PRM's best-of-N pick is no better than the majority vote."""
    return [f"PRM best-of-{n} accuracy {r['prm']:.3f} does not beat majority-of-{n} {r['majority']:.3f}"
            for n, r in (prm_eval.get("best_of_n") or {}).items() if not r["prm_beats_majority"]]
