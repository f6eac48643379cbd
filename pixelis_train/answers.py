"""Answer text: the reference a record is graded against, and the normaliser that makes two answers comparable.

No torch here: evaluation (``pixelis_train/evaluate.py``) generates the ids, :class:`AnswerDecoding`
reads them back as text (cut at the first stop token or marker, :func:`cut_answer`), and the answer
counts as right when :func:`normalize_answer` of it and of the reference are the same string. The
normaliser's rules, in order:

1. Unicode compatibility forms folded (NFKC), case folded, surrounding whitespace stripped;
2. an option letter wins: ``"(A)"``, ``"[a]"``, ``"A."``, ``"A)"``, ``"A:"`` (optionally followed by the
   option's text, ``"(B) two cats"``) and a lone letter ``"A"`` all become ``"a"``;
3. otherwise punctuation (Unicode category P: ``.,;:!?'"()-`` and the like) becomes a space, the
   articles "a", "an", "the" are dropped as words, and runs of whitespace become one space
   (``"The red cube."`` == ``"red cube"``).

A lone letter is read as an option letter before articles are dropped, so ``"A"`` stays ``"a"``
rather than becoming empty.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pixelis_train.chat import IM_END

ANSWER_END = "</answer>"

# "(a)", "[a]", "a.", "a)", "a:" at the start, then the end or whitespace (so "e.g." is not option "e")
_OPTION = re.compile(r"^(?:\(([a-z])\)|\[([a-z])\]|([a-z])[.):])(?:\s|$)")
_ARTICLES = frozenset({"a", "an", "the"})


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def normalize_answer(text: str) -> str:
    """The comparable form of an answer (rules in the module docstring)."""
    folded = unicodedata.normalize("NFKC", text).casefold().strip()
    if len(folded) == 1 and "a" <= folded <= "z":
        return folded
    option = _OPTION.match(folded)
    if option:
        return next(g for g in option.groups() if g)
    spaced = "".join(" " if _is_punctuation(c) else c for c in folded)
    return " ".join(word for word in spaced.split() if word not in _ARTICLES)


def answers_match(prediction: str, reference: str) -> bool:
    """Whether ``prediction`` says what ``reference`` says, after :func:`normalize_answer` of both."""
    return normalize_answer(prediction) == normalize_answer(reference)


def reference_answer(record: Mapping[str, Any]) -> str | None:
    """What a record's answer is graded against: its ``ground_truth``, else its ``answer``; None if neither.

    ``ground_truth`` first: an outcome-negative sample's ``answer`` is the wrong answer it demonstrates.
    """
    for key in ("ground_truth", "answer"):
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def cut_answer(text: str, stops: Iterable[str]) -> str:
    """``text`` up to the first of ``stops`` (e.g. ``</answer>``, ``<|im_end|>``), surrounding whitespace removed."""
    end = len(text)
    for stop in stops:
        at = text.find(stop) if stop else -1
        if at != -1:
            end = min(end, at)
    return text[:end].strip()


@dataclass(frozen=True)
class AnswerDecoding:
    """How answers are generated and read back: the tokenizer and the most new tokens per answer."""

    tokenizer: Any
    max_new_tokens: int

    def stop_ids(self) -> list[int]:
        """``</answer>`` (when it is one token), ``<|im_end|>`` and eos: generation stops at any of them."""
        tok = self.tokenizer
        unk = getattr(tok, "unk_token_id", None)
        ids = {tok.convert_tokens_to_ids(t) for t in (ANSWER_END, IM_END)} | {tok.eos_token_id}
        return sorted(i for i in ids if isinstance(i, int) and i != unk)

    def text(self, new_ids: list[int]) -> str:
        """The answer text of generated ids: cut at the first stop token, decoded, cut at the stop texts
        (``</answer>`` spelled in several tokens ends the answer too)."""
        stops = set(self.stop_ids())
        end = next((k for k, t in enumerate(new_ids) if t in stops), len(new_ids))
        text = self.tokenizer.decode(new_ids[:end], skip_special_tokens=False)
        return cut_answer(text, (ANSWER_END, IM_END, self.tokenizer.eos_token or ""))
