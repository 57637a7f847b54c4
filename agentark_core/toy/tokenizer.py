"""Word-level tokenizer of the toy world: every integer 0-3999 is one token (README, "Quick start").

Measured on 2 CPU cores, a tiny model learns toy arithmetic in minutes with numbers as
single tokens and barely at all over digit characters, hence this tokenizer. Its vocab:

- special tokens ``<|pad|> <|im_start|> <|im_end|> <|unk|>`` and the chat template of tiny.py;
- ``"\\n"`` and every ASCII punctuation character (operators included), one token each;
- the integers ``0``-``MAX_VALUE`` (anything else numeric becomes ``<|unk|>``);
- every word of the toy problem templates, the chat roles, and the given prompt texts
  (default: ``agentark_core.mas.prompts.TEMPLATES``), each as written, lower-case and capitalised.

New prompt templates extend the vocab by passing their texts to
:func:`build_toy_tokenizer` (``str.format`` placeholders like ``{question}`` are ignored).
Decoding joins tokens with spaces, then re-attaches punctuation and newlines, so a gold
solution round-trips exactly: ``"Step 1: 12 + 7 = 19\\nFinal Answer: 19"``.

Example:
    >>> tok = build_toy_tokenizer()                        # doctest: +SKIP
    >>> tok.tokenize("Step 1: 1234 + 7 = 1241")            # doctest: +SKIP
    ['Step', '1', ':', '1234', '+', '7', '=', '1241']
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

from agentark_core.toy.problems import ITEMS, MAX_VALUE, NAMES, TEMPLATES
from agentark_core.toy.tiny import CHAT_TEMPLATE

SPECIAL_TOKENS = ("<|pad|>", "<|im_start|>", "<|im_end|>", "<|unk|>")
ROLES = ("system", "user", "assistant")
# One token per newline, digit run, letter run, or single other non-space character.
PIECE_PATTERN = r"\n|\d+|[^\W\d_]+|[^\w\s]|_"
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_LETTERS = re.compile(r"[^\W\d_]+")


def template_words(texts: Iterable[str]) -> set[str]:
    """The letter words of some texts (format placeholders dropped), as written, lower and capitalised.

    Example:
        >>> sorted(template_words(["Agent {agent_id}: ok"]))
        ['Agent', 'Ok', 'agent', 'ok']
    """
    words: set[str] = set()
    for text in texts:
        for word in _LETTERS.findall(_PLACEHOLDER.sub(" ", text)):
            words.update((word, word.lower(), word.capitalize()))
    return words


def toy_vocab(prompt_texts: Iterable[str], vocab_size: int | None = None) -> dict[str, int]:
    """Token -> id: special tokens, newline, punctuation, the integers 0..MAX_VALUE, then words (sorted).

    With ``vocab_size``, filler words (``"xqa"``, ``"xqb"``, ... letters only, so each stays one piece)
    pad the vocab to exactly that size: a random-init model of a real shape (e.g. Qwen3's 151,936-row
    embedding) then decodes every id it samples, and the decoded text re-encodes to the same ids.
    """
    words = template_words([*TEMPLATES, *NAMES, *ITEMS, *ROLES, *prompt_texts])
    tokens = [*SPECIAL_TOKENS, "\n", *string.punctuation, *map(str, range(MAX_VALUE + 1)), *sorted(words)]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    if vocab_size is None:
        return vocab
    if vocab_size < len(vocab):
        raise ValueError(f"vocab_size {vocab_size} is smaller than the toy vocab ({len(vocab)} tokens)")
    for word in _filler_words():
        if len(vocab) == vocab_size:
            break
        vocab.setdefault(word, len(vocab))
    return vocab


def _filler_words():
    """Endless distinct letter-only words: ``xqa .. xqz, xqba .. xqzz, xqbaa ...`` (base 26, no leading a)."""
    n = 0
    while True:
        digits, rest = "", n
        while True:
            digits = string.ascii_lowercase[rest % 26] + digits
            rest //= 26
            if rest == 0:
                break
        yield "xq" + digits
        n += 1


def _decoder():
    """Join tokens with spaces, then drop the spaces around newlines and chat markers and inside brackets."""
    from tokenizers import Regex, decoders

    return decoders.Sequence(
        [
            decoders.WordPiece(prefix="##", cleanup=False),  # no toy token starts with "##": plain spacing
            decoders.Fuse(),
            decoders.Replace(Regex(r" ?\n ?"), "\n"),
            decoders.Replace(Regex(r" (?=[.,:;?!)\]}%])"), ""),
            decoders.Replace(Regex(r"(?<=[(\[{$]) "), ""),
            decoders.Replace(Regex(r"(?<=_start\|>|_end\|>) | (?=<\|im_)"), ""),  # around chat markers
        ]
    )


def build_toy_tokenizer(prompt_texts: Iterable[str] | None = None, vocab_size: int | None = None):
    """Build the toy word-level tokenizer as a ``PreTrainedTokenizerFast`` (save/load with HF methods).

    Args:
        prompt_texts: texts whose words join the vocab (MAS prompt templates); None = the templates
            of ``agentark_core.mas.prompts.TEMPLATES``.
        vocab_size: pad the vocab with filler words to exactly this many tokens (see ``toy_vocab``);
            None keeps the toy vocab's own size.

    Returns:
        A left-padding ``PreTrainedTokenizerFast`` with pad ``<|pad|>``, eos ``<|im_end|>``, unk
        ``<|unk|>`` and the ``<|im_start|>role\\n...<|im_end|>\\n`` chat template.
    """
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if prompt_texts is None:
        from agentark_core.mas.prompts import TEMPLATES as prompt_texts
    tok = Tokenizer(models.WordLevel(toy_vocab(prompt_texts, vocab_size), unk_token="<|unk|>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(PIECE_PATTERN), behavior="removed", invert=True)
    tok.decoder = _decoder()
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<|unk|>",
        pad_token="<|pad|>",
        eos_token="<|im_end|>",
        bos_token=None,
        additional_special_tokens=["<|im_start|>"],
        clean_up_tokenization_spaces=False,
        padding_side="left",
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast
