"""Words for counts in messages: ``plural(1, "step")`` is '1 step', ``plural(3, "step")`` '3 steps'."""

from __future__ import annotations

_IRREGULAR = {"category": "categories", "was": "were", "is": "are", "has": "have", "this": "these"}


def plural_word(n: float, word: str, many: str | None = None) -> str:
    """``word`` for one, ``many`` (default: ``word`` + 's', or a known irregular plural) for any other count."""
    if n == 1:
        return word
    return many if many is not None else _IRREGULAR.get(word, word + "s")


def plural(n: float, word: str, many: str | None = None) -> str:
    """The count and its word: '1 step', '0 steps', '1,200 records', '2 categories'.

    Integers get thousands separators; other numbers are printed with ``:g``.
    """
    number = f"{n:,}" if isinstance(n, int) else f"{n:g}"
    return f"{number} {plural_word(n, word, many)}"
