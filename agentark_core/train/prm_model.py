"""Process reward model (paper §3.3.3, App. B): the student's backbone + a scalar head on each step's last token.

A trace is rendered as the chat-template prompt followed by its steps joined with
``step_separator``; ONE forward pass gives the hidden state at the last token of every step,
and ``Linear(hidden, 1)`` turns each into a step score (a logit; ``σ(score)`` = p(step correct)).

Example:
    >>> prm = PRM.from_student("student/")                        # doctest: +SKIP
    >>> prm.score_steps(["What is 2+3?"], [["2 + 3 = 5", "Final Answer: 5"]])  # doctest: +SKIP
    [[0.71, 0.64]]
"""

from __future__ import annotations

import json
import logging
from bisect import bisect_left
from pathlib import Path

import torch
from torch import nn

logger = logging.getLogger(__name__)

HEAD_FILE = "prm_head.safetensors"
CONFIG_FILE = "prm_config.json"


def encode_trace(
    tokenizer, prompt: str, steps: list[str], separator: str, max_length: int | None = None
) -> tuple[list[int], list[int]]:
    """Tokenise prompt + steps and find the index of each step's last token.

    Args:
        tokenizer: fast tokenizer with a chat template (offsets are needed).
        prompt: the user message; rendered with the generation prompt.
        steps: the trace's steps, in order.
        separator: text placed between consecutive steps.
        max_length: truncate to this many tokens; steps ending past it are dropped.

    Returns:
        ``(input_ids, step_ends)``; ``step_ends[i]`` is the token index of step i's last character.
        Shorter than ``steps`` only when truncation dropped trailing steps.
    """
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    char_ends = []
    for i, step in enumerate(steps):
        text += (separator if i else "") + step
        char_ends.append(len(text))
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    starts = [start for start, _ in enc["offset_mapping"]]
    ends = [bisect_left(starts, end) - 1 for end in char_ends]  # last token starting before the step's end
    ids = enc["input_ids"]
    if max_length is not None and len(ids) > max_length:
        ids = ids[:max_length]
        ends = [e for e in ends if e < max_length]
    return ids, ends


def collate_traces(
    encoded: list[tuple[list[int], list[int]]], pad_token_id: int, padding_free: bool = False
) -> dict[str, torch.Tensor]:
    """Batch encoded traces: right-padded rows, or one padding-free row.

    Returns:
        ``input_ids`` ``(batch, seq_len)`` and ``step_rows``/``step_cols`` ``(n_steps,)``: the (row, token)
        position of every step end, trace by trace, step by step. Padded: plus ``attention_mask``.
        Padding-free: ``input_ids`` is ``(1, total_tokens)``, plus ``position_ids`` (restarting per trace),
        ``cu_seq_lens_q/k`` (int32 trace boundaries) and ``max_length_q/k``.
    """
    if padding_free:
        return _collate_flat(encoded)
    width = max(len(ids) for ids, _ in encoded)
    input_ids = torch.full((len(encoded), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(encoded), width), dtype=torch.long)
    rows, cols = [], []
    for row, (ids, ends) in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention_mask[row, : len(ids)] = 1
        rows += [row] * len(ends)
        cols += ends
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "step_rows": torch.tensor(rows, dtype=torch.long),
        "step_cols": torch.tensor(cols, dtype=torch.long),
    }


def _collate_flat(encoded: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
    lengths = [len(ids) for ids, _ in encoded]
    starts = [0]
    for n in lengths:
        starts.append(starts[-1] + n)
    cu_seq_lens = torch.tensor(starts, dtype=torch.int32)
    cols = [start + end for start, (_, ends) in zip(starts, encoded) for end in ends]
    return {
        "input_ids": torch.tensor([[tok for ids, _ in encoded for tok in ids]], dtype=torch.long),
        "position_ids": torch.cat([torch.arange(n) for n in lengths])[None],
        "cu_seq_lens_q": cu_seq_lens,
        "cu_seq_lens_k": cu_seq_lens,
        "max_length_q": max(lengths),
        "max_length_k": max(lengths),
        "step_rows": torch.zeros(len(cols), dtype=torch.long),
        "step_cols": torch.tensor(cols, dtype=torch.long),
    }


class PRM(nn.Module):
    """Backbone (``AutoModel``) + ``Linear(hidden, 1)`` scoring the last token of each step."""

    def __init__(self, backbone, tokenizer, step_separator: str = "\n\n") -> None:
        super().__init__()
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.step_separator = step_separator
        self.head = nn.Linear(backbone.config.hidden_size, 1, dtype=torch.float32)

    @classmethod
    def from_student(
        cls, model_path: str, step_separator: str = "\n\n", dtype=torch.float32, **load_kwargs
    ) -> PRM:
        """Initialise from a student checkpoint (a CausalLM folder): its base model + a fresh head
        (``load_kwargs``, e.g. ``attn_implementation``, go to ``from_pretrained``)."""
        from transformers import AutoModel, AutoTokenizer

        backbone = AutoModel.from_pretrained(model_path, dtype=dtype, **load_kwargs)
        return cls(backbone, AutoTokenizer.from_pretrained(model_path), step_separator)

    def forward(
        self, input_ids, step_rows, step_cols, attention_mask=None, **backbone_kwargs
    ) -> torch.Tensor:
        """Step scores (logits) ``(n_steps,)`` for a batch from :func:`collate_traces` (padded or padding-free)."""
        hidden = self.backbone(  # no KV cache: it would also hide packed sequences from the mask builder
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **backbone_kwargs
        ).last_hidden_state
        return self.head(hidden[step_rows, step_cols].float()).squeeze(-1)

    def last_block(self) -> nn.Module:
        """The backbone's last transformer block (the last item of its longest ``ModuleList``)."""
        from agentark_core.train.speed import transformer_blocks

        return transformer_blocks(self.backbone)[-1]

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def score_steps(
        self, prompts: list[str], steps: list[list[str]], batch_size: int = 8
    ) -> list[list[float]]:
        """P(step correct) = σ(score) for every step of every trace, batched.

        Args:
            prompts: one user prompt per trace.
            steps: the steps of each trace (``len(steps) == len(prompts)``).
            batch_size: traces per forward pass.

        Returns:
            ``out[i][j]`` = probability that step j of trace i is correct; ``len(out[i]) == len(steps[i])``.
        """
        if len(prompts) != len(steps):
            raise ValueError(f"score_steps: {len(prompts)} prompts but {len(steps)} step lists")
        encoded = [encode_trace(self.tokenizer, p, s, self.step_separator) for p, s in zip(prompts, steps)]
        use_bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
        out: list[list[float]] = []
        self.eval()
        with torch.no_grad(), torch.autocast(self.device.type, torch.bfloat16, enabled=use_bf16):
            for start in range(0, len(encoded), batch_size):
                chunk = encoded[start : start + batch_size]
                batch = _to_device(collate_traces(chunk, self.tokenizer.pad_token_id), self.device)
                probs = (
                    torch.sigmoid(self(**batch)).float().cpu().tolist() if batch["step_rows"].numel() else []
                )
                for _, ends in chunk:
                    out.append(probs[: len(ends)])
                    probs = probs[len(ends) :]
        return out

    def save(self, path: str | Path) -> None:
        """Write the backbone + tokenizer in HF format, the head as safetensors and a small json."""
        from safetensors.torch import save_file

        path = Path(path)
        self.backbone.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}, path / HEAD_FILE
        )
        meta = {
            "step_separator": self.step_separator,
            "hidden_size": self.head.in_features,
            "format_version": 1,
        }
        (path / CONFIG_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: str | Path, dtype=None) -> PRM:
        """Load a PRM written by :meth:`save` (``dtype`` None keeps the saved precision)."""
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        path = Path(path)
        if not (path / CONFIG_FILE).exists():
            raise FileNotFoundError(f"{path} is not a PRM checkpoint: no {CONFIG_FILE}")
        meta = json.loads((path / CONFIG_FILE).read_text())
        backbone = AutoModel.from_pretrained(path, **({"dtype": dtype} if dtype is not None else {}))
        prm = cls(backbone, AutoTokenizer.from_pretrained(path), meta["step_separator"])
        prm.head.load_state_dict(load_file(path / HEAD_FILE))
        return prm


def _to_device(batch: dict, device) -> dict:
    """Move a collated batch's tensors to ``device`` (ints such as ``max_length_q`` stay as they are).

    To CUDA the copies go through pinned memory without blocking: a plain copy from pageable memory
    waits for the GPU to drain its queue first, a sync per tensor per batch.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    return {
        k: v.pin_memory().to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }
