"""Outcome from the answer: a record with ``answer`` and ``ground_truth`` but no ``sample_type`` gets one.

Real data (DeepEyes, Pixel Reasoner evaluation dumps) carries the model's answer and the reference but
no sample type, so every sample would be ``positive`` and the error-pattern factor would see no failed
trajectory. With ``read.outcome_from_answer`` (default on) such a record is ``outcome_negative`` when the
two differ after normalisation (``read.answer_match``), else ``positive``. An explicit sample_type always
wins, and a record lacking either side (null, or blank after trimming) keeps the default ``positive``.

Normalisation, in this order (docs/formats.md, "Outcome from the answer"):

1. ``option_letters``: a leading option label ``A.`` / ``A)`` / ``A:`` / ``(A)`` / ``[A]`` followed by
   whitespace is removed; an answer that *is* a label (``B``, ``(b)``, ``B.``) normalises to its letter,
   and such a letter-only side also matches the other side's label letter (``B`` vs ``B. the cat``);
2. ``ignore_case``: lower-case;
3. ``ignore_punctuation``: characters of the Unicode categories P* and S* are deleted;
4. ``articles``: these whole words are removed (case-insensitively);
5. always: whitespace runs become one space, the ends are trimmed.

All of it is Polars expressions over the batch, applied once to every format's canonical rows
(``readers/__init__.py``); content-hash ids are computed before, from the record as given.
"""

from __future__ import annotations

import re

import polars as pl

from pixelis_data.read_config import AnswerMatchConfig, ReadConfig
from pixelis_data.readers.pixelis import DEFAULT_SAMPLE_TYPE

LETTER_ONLY = r"^\s*[\(\[]?([A-Za-z])[\)\]\.:]?\s*$"
OPTION_LABEL = r"^\s*[\(\[]?([A-Za-z])[\)\]\.:]\s+"


def normalized_answer(text: pl.Expr, cfg: AnswerMatchConfig) -> pl.Expr:
    """``text`` normalised for comparison (steps 1-5 of the module docstring)."""
    body = text.str.replace(OPTION_LABEL, "") if cfg.option_letters else text
    if cfg.ignore_case:
        body = body.str.to_lowercase()
    if cfg.ignore_punctuation:
        body = body.str.replace_all(r"[\p{P}\p{S}]", "")
    if cfg.articles:
        words = "|".join(re.escape(a.strip()) for a in cfg.articles)
        body = body.str.replace_all(rf"(?i)\b(?:{words})\b", " ")
    body = body.str.replace_all(r"\s+", " ").str.strip_chars()
    if not cfg.option_letters:
        return body
    return pl.when(_letter_only(text).is_not_null()).then(_letter_only(text)).otherwise(body)


def _letter_only(text: pl.Expr) -> pl.Expr:
    return text.str.extract(LETTER_ONLY, 1).str.to_lowercase()


def _option_letter(text: pl.Expr) -> pl.Expr:
    return pl.coalesce(_letter_only(text), text.str.extract(OPTION_LABEL, 1).str.to_lowercase())


def answers_match(answer: pl.Expr, truth: pl.Expr, cfg: AnswerMatchConfig) -> pl.Expr:
    """True when ``answer`` and ``truth`` are the same answer under ``cfg`` (null when either is null)."""
    same = normalized_answer(answer, cfg) == normalized_answer(truth, cfg)
    if not cfg.option_letters:
        return same
    one_is_letter = _letter_only(answer).is_not_null() | _letter_only(truth).is_not_null()
    same_letter = (_option_letter(answer) == _option_letter(truth)).fill_null(False) & one_is_letter
    return same | same_letter


def sample_type_expr(cfg: ReadConfig) -> pl.Expr:
    """The final ``sample_type`` of a canonical frame whose ``sample_type`` is null where the record had none:
    ``outcome_negative`` for a wrong answer (when enabled), else ``positive``."""
    given = pl.col("sample_type")
    if not cfg.outcome_from_answer:
        return given.fill_null(DEFAULT_SAMPLE_TYPE)
    # only rows without a sample_type need the answer comparison: the others' answers are masked to null,
    # which the string kernels skip (records that carry their type cost no regex work)
    answer, truth = (pl.when(given.is_null()).then(pl.col(c)) for c in ("answer", "ground_truth"))
    both = (answer.str.strip_chars() != "") & (truth.str.strip_chars() != "")
    wrong = both.fill_null(False) & ~answers_match(answer, truth, cfg.answer_match).fill_null(True)
    derived = pl.when(wrong).then(pl.lit("outcome_negative")).otherwise(pl.lit(DEFAULT_SAMPLE_TYPE))
    return given.fill_null(derived).alias("sample_type")
