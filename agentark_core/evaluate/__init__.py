"""Evaluation stage (paper §4 and App. D-E): metrics, reasoning perplexity, LLM judge, cost.

* ``METRICS`` / ``compute_metric(name, predictions, references, **kw) -> MetricResult``:
  accuracy (via ``grade``), token_f1, exact_match, rouge1/2/L, bleu, bertscore.
* ``reasoning_perplexity(model, prompts, reasonings, answers, tokenizer=None)``.
* ``judge_reasoning(items, generator, JudgeConfig)``: 1-5 scores on four reasoning criteria.
* ``compare_cost(mas_rows, single_rows)``: tokens, calls and wall time per question, MAS/single ratios.
* ``evaluate_questions(questions, generator, protocol, ...)``: eval_records + eval_summary rows,
  single agent (``cot``) and MAS through the same code.
"""

from agentark_core.evaluate.cost import CostComparison, CostSummary, compare_cost, per_question_cost
from agentark_core.evaluate.judge import CRITERIA, JudgeConfig, JudgeItem, JudgeResult, judge_reasoning
from agentark_core.evaluate.metrics import METRICS, MetricResult, compute_metric
from agentark_core.evaluate.perplexity import reasoning_perplexity
from agentark_core.evaluate.run_eval import evaluate_questions, records_from_turns, summarize_records

__all__ = [
    "CRITERIA",
    "METRICS",
    "CostComparison",
    "CostSummary",
    "JudgeConfig",
    "JudgeItem",
    "JudgeResult",
    "MetricResult",
    "compare_cost",
    "compute_metric",
    "evaluate_questions",
    "judge_reasoning",
    "per_question_cost",
    "reasoning_perplexity",
    "records_from_turns",
    "summarize_records",
]
