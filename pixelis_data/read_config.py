"""``ReadConfig``: how input files are read and normalised (the ``read:`` section of the data YAML).

The operation alias table of docs/design.md §3 and the answer comparison of ``read.outcome_from_answer``
(docs/formats.md). ``pixelis_data.config`` re-exports everything here; this module imports no other
config module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pixelis_core.config_io import Problems

# Operation names seen in the wild -> canonical names. Keys match case-insensitively and ignoring
# '_', '-', ' ' (so ZoomIn, zoom_in and ZOOM-IN are one key); canonical names map to themselves.
DEFAULT_ALIASES: dict[str, str] = {
    "ZoomIn": "ZOOM_IN",
    "Zoom": "ZOOM_IN",
    "Crop": "ZOOM_IN",
    "CropImage": "ZOOM_IN",
    "image_zoom_in_tool": "ZOOM_IN",
    "crop_image": "ZOOM_IN",
    "crop_image_normalized": "ZOOM_IN",
    "OCR": "READ_TEXT",
    "ReadText": "READ_TEXT",
    "ExtractText": "READ_TEXT",
    "LocalizeObjects": "SEGMENT_OBJECT_AT",
    "GetObjects": "SEGMENT_OBJECT_AT",
    "DetectObjects": "SEGMENT_OBJECT_AT",
    "Segment": "SEGMENT_OBJECT_AT",
    "SegmentObject": "SEGMENT_OBJECT_AT",
    "GetProperties": "GET_PROPERTIES",
    "GetAttributes": "GET_PROPERTIES",
    "Track": "TRACK_OBJECT",
    "TrackObject": "TRACK_OBJECT",
    "Think": "THINK",
    "Reasoning": "THINK",
    "Thought": "THINK",
}


def alias_key(name: str) -> str:
    """The lookup key of an operation name: lower-case, without '_', '-', ' ' and '.'."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


@dataclass(frozen=True)
class AnswerMatchConfig:
    """How an answer is compared with its ground truth when ``read.outcome_from_answer`` derives the sample type.

    Whitespace runs always count as one space and the ends are trimmed (docs/formats.md, outcome).
    """

    ignore_case: bool = True
    """Compare case-insensitively."""
    ignore_punctuation: bool = True
    """Drop punctuation and symbol characters (Unicode P* and S*) before comparing."""
    articles: tuple[str, ...] = ("a", "an", "the")
    """Whole words removed before comparing (matched case-insensitively); empty: keep every word."""
    option_letters: bool = True
    """Strip a leading option label ("A.", "(A)", "[A]", "A)", "A:") and let a letter-only answer match it."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(
            all(a.strip() and " " not in a.strip() for a in self.articles),
            f"articles: each article must be one non-empty word (got {list(self.articles)!r})",
        )
        p.raise_if_any()


@dataclass(frozen=True)
class ReadConfig:
    """How input files are read and normalised to the canonical record."""

    aliases: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ALIASES))
    """Operation-name aliases -> canonical names (the default table of docs/design.md §3)."""
    extra_aliases: dict[str, str] = field(default_factory=dict)
    """User aliases added on top of ``aliases`` (they win on a clash); extend here rather than copy the table."""
    chunk_mb: int = 32
    """Size of the byte chunks JSONL input is parsed in; memory use scales with this, not with the file."""
    outcome_from_answer: bool = True
    """A record with answer and ground_truth but no sample_type is outcome_negative when they differ (else positive)."""
    answer_match: AnswerMatchConfig = field(default_factory=AnswerMatchConfig)
    """How answer and ground_truth are normalised before ``outcome_from_answer`` compares them."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(1 <= self.chunk_mb <= 4096, f"chunk_mb: must be between 1 and 4096 (got {self.chunk_mb})")
        for key, target in {**self.aliases, **self.extra_aliases}.items():
            p.check(bool(alias_key(key)), f"aliases.{key!r}: an alias needs a letter or digit")
            p.check(bool(target.strip()), f"aliases.{key}: the canonical name must not be empty (got {target!r})")
        p.raise_if_any()

    def alias_table(self, canonical: tuple[str, ...] = ()) -> dict[str, str]:
        """Normalised alias key -> canonical name, with each canonical name mapping to itself."""
        table = {alias_key(name): name for name in canonical}
        for key, target in {**self.aliases, **self.extra_aliases}.items():
            table[alias_key(key)] = target
        return table
