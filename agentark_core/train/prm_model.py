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
from bisect import bisect_left, bisect_right
from pathlib import Path

import torch
from torch import nn

from agentark_core.train import prm_likelihood

logger = logging.getLogger(__name__)

HEAD_FILE = "prm_head.safetensors"
CONFIG_FILE = "prm_config.json"


def encode_trace(
    tokenizer, prompt: str, steps: list[str], separator: str, max_length: int | None = None
) -> tuple[list[int], list[int], list[int]]:
    """Tokenise prompt + steps and find the index of each step's first and last token.

    Args:
        tokenizer: fast tokenizer with a chat template (offsets are needed).
        prompt: the user message; rendered with the generation prompt.
        steps: the trace's steps, in order.
        separator: text placed between consecutive steps.
        max_length: truncate to this many tokens; steps ending past it are dropped.

    Returns:
        ``(input_ids, step_ends, step_starts)``; ``step_ends[i]`` is the token index of step i's last
        character, ``step_starts[i]`` that of its first (the separator before it not included).
        Shorter than ``steps`` only when truncation dropped trailing steps.
    """
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    char_spans = []
    for i, step in enumerate(steps):
        text += separator if i else ""
        char_spans.append((len(text), len(text) + len(step)))
        text += step
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    token_starts = [start for start, _ in enc["offset_mapping"]]
    token_ends = [end for _, end in enc["offset_mapping"]]
    ends = [bisect_left(token_starts, end) - 1 for _, end in char_spans]  # last token starting before the step's end
    starts = [min(bisect_right(token_ends, start), end) for (start, _), end in zip(char_spans, ends)]
    ids = enc["input_ids"]
    if max_length is not None and len(ids) > max_length:
        ids = ids[:max_length]
        ends = [e for e in ends if e < max_length]
        starts = starts[: len(ends)]
    return ids, ends, starts


def collate_traces(
    encoded: list[tuple[list[int], list[int], list[int]]], pad_token_id: int, padding_free: bool = False
) -> dict[str, torch.Tensor]:
    """Batch traces encoded by :func:`encode_trace`: right-padded rows, or one padding-free row.

    Returns:
        ``input_ids`` ``(batch, seq_len)`` and ``step_rows``/``step_cols`` ``(n_steps,)``: the (row, token)
        position of every step end, trace by trace, step by step; the likelihood features' token index
        (``prm_likelihood.token_index``). Padded: plus ``attention_mask``. Padding-free: ``input_ids`` is
        ``(1, total_tokens)``, plus ``position_ids`` (restarting per trace), ``cu_seq_lens_q/k`` (int32
        trace boundaries) and ``max_length_q/k``.
    """
    if padding_free:
        return _collate_flat(encoded)
    width = max(len(ids) for ids, *_ in encoded)
    input_ids = torch.full((len(encoded), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(encoded), width), dtype=torch.long)
    rows, cols = [], []
    for row, (ids, ends, _) in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention_mask[row, : len(ids)] = 1
        rows += [row] * len(ends)
        cols += ends
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "step_rows": torch.tensor(rows, dtype=torch.long),
        "step_cols": torch.tensor(cols, dtype=torch.long),
        **prm_likelihood.token_index([(row, 0, starts, ends) for row, (_, ends, starts) in enumerate(encoded)]),
    }


def _collate_flat(encoded: list[tuple[list[int], list[int], list[int]]]) -> dict[str, torch.Tensor]:
    lengths = [len(ids) for ids, *_ in encoded]
    offsets = [0]
    for n in lengths:
        offsets.append(offsets[-1] + n)
    cu_seq_lens = torch.tensor(offsets, dtype=torch.int32)
    cols = [offset + end for offset, (_, ends, _) in zip(offsets, encoded) for end in ends]
    return {
        "input_ids": torch.tensor([[tok for ids, *_ in encoded for tok in ids]], dtype=torch.long),
        "position_ids": torch.cat([torch.arange(n) for n in lengths])[None],
        "cu_seq_lens_q": cu_seq_lens,
        "cu_seq_lens_k": cu_seq_lens,
        "max_length_q": max(lengths),
        "max_length_k": max(lengths),
        "step_rows": torch.zeros(len(cols), dtype=torch.long),
        "step_cols": torch.tensor(cols, dtype=torch.long),
        **prm_likelihood.token_index([(0, offset, starts, ends) for offset, (_, ends, starts) in zip(offsets, encoded)]),
    }


class PRM(nn.Module):
    """Backbone (``AutoModel``) + ``Linear(hidden, 1)`` on the last token of each step, plus (with an
    ``lm_head``) ``Linear(4, 1)`` on the step's likelihood features (``prm_likelihood``)."""

    def __init__(self, backbone, tokenizer, step_separator: str = "\n\n", lm_head: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.step_separator = step_separator
        self.head = nn.Linear(backbone.config.hidden_size, 1, dtype=torch.float32)
        self.lm_head = lm_head
        self.likelihood_head = None
        if lm_head is not None:  # untrained, the PRM scores by the likelihood features alone
            self.likelihood_head = prm_likelihood.likelihood_head()
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    @classmethod
    def from_student(
        cls, model_path: str, step_separator: str = "\n\n", dtype=torch.float32, likelihood_features: bool = True,
        **load_kwargs,
    ) -> PRM:
        """Initialise from a student checkpoint (a CausalLM folder): its base model + fresh heads
        (``load_kwargs``, e.g. ``attn_implementation``, go to ``from_pretrained``). With
        ``likelihood_features`` the student's LM head stays too (tied to the embeddings or not)."""
        from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_path)
        if not likelihood_features:
            return cls(AutoModel.from_pretrained(model_path, dtype=dtype, **load_kwargs), tokenizer, step_separator)
        lm = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, **load_kwargs)
        return cls(lm.base_model, tokenizer, step_separator, lm.get_output_embeddings())

    def forward(
        self, input_ids, step_rows, step_cols, attention_mask=None, token_rows=None, token_cols=None,
        step_first=None, step_last=None, trace_first=None, **backbone_kwargs,
    ) -> torch.Tensor:
        """Step scores (logits) ``(n_steps,)`` for a batch from :func:`collate_traces` (padded or padding-free)."""
        hidden = self.backbone(  # no KV cache: it would also hide packed sequences from the mask builder
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **backbone_kwargs
        ).last_hidden_state
        scores = self.head(hidden[step_rows, step_cols].float()).squeeze(-1)
        if self.likelihood_head is None:
            return scores
        if token_rows is None:
            raise ValueError("this PRM scores likelihood features: give it a batch from collate_traces")
        logprobs = prm_likelihood.token_logprobs(self.lm_head, hidden, input_ids, token_rows, token_cols)
        features = prm_likelihood.likelihood_features(logprobs, step_first, step_last, trace_first)
        return scores + self.likelihood_head(features).squeeze(-1)

    def head_parameters(self) -> list[nn.Parameter]:
        """The parameters of the scoring heads (hidden-state head, likelihood head), not the backbone's."""
        heads = [self.head] + ([self.likelihood_head] if self.likelihood_head is not None else [])
        return [p for head in heads for p in head.parameters()]

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
                for _, ends, _ in chunk:
                    out.append(probs[: len(ends)])
                    probs = probs[len(ends) :]
        return out

    def _tied_lm_head(self) -> bool:
        return self.lm_head is not None and self.lm_head.weight is self.backbone.get_input_embeddings().weight

    def save(self, path: str | Path) -> None:
        """Write the backbone + tokenizer in HF format, the heads (and an LM head not tied to the
        embeddings) as safetensors and a small json."""
        from safetensors.torch import save_file

        path = Path(path)
        self.backbone.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        heads = {"head": self.head, "likelihood_head": self.likelihood_head}
        if self.lm_head is not None and not self._tied_lm_head():
            heads["lm_head"] = self.lm_head
        tensors = {f"{name}.{k}": v.detach().cpu().contiguous()
                   for name, module in heads.items() if module is not None for k, v in module.state_dict().items()}
        save_file(tensors, path / HEAD_FILE)
        meta = {
            "step_separator": self.step_separator,
            "hidden_size": self.head.in_features,
            "likelihood_features": self.likelihood_head is not None,
            "lm_head_tied": self._tied_lm_head(),
            "format_version": 2,
        }
        (path / CONFIG_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: str | Path, dtype=None) -> PRM:
        """Load a PRM written by :meth:`save` (``dtype`` None keeps the saved precision); format 1 (a
        hidden-state head only, its file's keys unprefixed) loads too."""
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        path = Path(path)
        if not (path / CONFIG_FILE).exists():
            raise FileNotFoundError(f"{path} is not a PRM checkpoint: no {CONFIG_FILE}")
        meta = json.loads((path / CONFIG_FILE).read_text())
        backbone = AutoModel.from_pretrained(path, **({"dtype": dtype} if dtype is not None else {}))
        tensors = load_file(path / HEAD_FILE)
        if meta.get("format_version", 1) == 1:
            tensors = {f"head.{k}": v for k, v in tensors.items()}
        lm_head = None
        if meta.get("likelihood_features"):
            lm_head = _lm_head(backbone, tensors, meta["lm_head_tied"])
            lm_head.to(backbone.get_input_embeddings().weight.dtype)  # an untied one follows the backbone
        prm = cls(backbone, AutoTokenizer.from_pretrained(path), meta["step_separator"], lm_head)
        for name, module in (("head", prm.head), ("likelihood_head", prm.likelihood_head)):
            if module is not None:
                module.load_state_dict({k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(name + ".")})
        return prm


def _lm_head(backbone, tensors: dict, tied: bool) -> nn.Linear:
    """The LM head of a saved PRM: the backbone's input embeddings when tied, else from the head file."""
    embeddings = backbone.get_input_embeddings().weight
    if tied:
        head = nn.Linear(embeddings.shape[1], embeddings.shape[0], bias=False, device="meta")
        head.weight = embeddings
        return head
    weight = tensors["lm_head.weight"]
    head = nn.Linear(weight.shape[1], weight.shape[0], bias="lm_head.bias" in tensors, dtype=weight.dtype)
    head.load_state_dict({k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith("lm_head.")})
    return head


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
