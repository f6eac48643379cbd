"""Data-side configuration: reading (``read_config.py``), scoring (every constant of docs/design.md §4), splitting.

The YAML file ``configs/data.yaml`` has exactly this shape; every section and key is optional and
defaults to the values below, which reproduce the original Pixelis preprocessor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pixelis_core.config_io import Problems
from pixelis_data.factor_registry import FACTORS, MODEL_FACTOR, RENAMED_WEIGHT_KEYS, default_weights
from pixelis_data.read_config import DEFAULT_ALIASES, AnswerMatchConfig, ReadConfig, alias_key  # noqa: F401 (re-export)
from pixelis_data.split.config import SplitConfig

DEFAULT_COMPLEXITY: dict[str, float] = {
    "TRACK_OBJECT": 3.0,
    "SEGMENT_OBJECT_AT": 3.0,
    "GET_PROPERTIES": 2.0,
    "ZOOM_IN": 2.0,
    "READ_TEXT": 1.0,
    "THINK": 0.5,
}
DEFAULT_TASK_DIFFICULTY: dict[str, float] = {
    "temporal_tracking": 1.0,
    "geometric_comparison": 0.8,
    "spatial_reasoning": 0.7,
    "relationship_detection": 0.6,
    "attribute_recognition": 0.5,
    "object_counting": 0.4,
    "text_extraction": 0.3,
}
DEFAULT_SAMPLE_TYPE_MODIFIERS: dict[str, float] = {
    "positive": 0.0,
    "outcome_negative": 0.1,
    "trap_perceptual": 0.2,
    "trap_logical": 0.25,
    "self_correction": 0.15,
}
DEFAULT_PHRASES: tuple[str, ...] = ("doesn't seem right", "let me try", "actually", "wait", "correction")


def _non_negative_table(p: Problems, name: str, table: dict[str, float]) -> None:
    # kept as a name for ScoreConfig's check; the check itself is Problems.non_negative_table
    p.non_negative_table(name, table)


@dataclass(frozen=True)
class TrajectoryComplexityConfig:
    """Factor 1: min(1, ln(L+1) / ln(saturation_steps+1)), or short_score when L < min_steps."""

    min_steps: int = 2
    """Trajectories with fewer steps than this get ``short_score``."""
    short_score: float = 0.1
    """Score of a trajectory shorter than ``min_steps``."""
    saturation_steps: int = 15
    """Length at which the logarithmic curve reaches 1."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(self.min_steps >= 0, f"min_steps: must be >= 0 (got {self.min_steps})")
        p.number("short_score", self.short_score, 0, 1)
        p.check(self.saturation_steps >= 1, f"saturation_steps: must be >= 1 (got {self.saturation_steps})")
        p.raise_if_any()


@dataclass(frozen=True)
class OperationConfig:
    """Factor 2: mean operation weight over known steps / max weight, plus a bonus for variety."""

    complexity: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_COMPLEXITY))
    """Weight of each known operation; an action is 'known' iff it is a key here."""
    no_known_score: float = 0.3
    """Score when no step is a known operation."""
    unique_bonus: float = 0.2
    """Added as unique_bonus * n_unique_known / n_known."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(bool(self.complexity), "complexity: the table must not be empty")
        p.non_negative_table("complexity", self.complexity)
        p.check(
            bool(self.complexity) and max(self.complexity.values()) > 0,
            "complexity: at least one weight must be > 0",
        )
        p.number("no_known_score", self.no_known_score, 0, 1)
        p.check(self.unique_bonus >= 0, f"unique_bonus: must be >= 0 (got {self.unique_bonus})")
        p.raise_if_any()


@dataclass(frozen=True)
class ReasoningConfig:
    """Factor 3: ratio r of THINK steps; 1 inside [low, high], r/low below, a linear penalty above."""

    think_action: str = "THINK"
    """The canonical action name of a reasoning step."""
    low_ratio: float = 0.2
    """Below this ratio the score is r / low_ratio."""
    high_ratio: float = 0.6
    """Above this ratio the score is 1 - (r - high_ratio) / over_range * over_penalty."""
    over_range: float = 0.4
    """Denominator of the over-thinking penalty."""
    over_penalty: float = 0.3
    """Penalty reached at r = high_ratio + over_range."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(
            0 < self.low_ratio <= self.high_ratio <= 1,
            f"low_ratio/high_ratio: need 0 < low_ratio <= high_ratio <= 1 (got {self.low_ratio}, {self.high_ratio})",
        )
        p.check(self.over_range > 0, f"over_range: must be > 0 (got {self.over_range})")
        p.number("over_penalty", self.over_penalty, 0, 1)
        p.check(bool(self.think_action), "think_action: must not be empty")
        p.raise_if_any()


@dataclass(frozen=True)
class ErrorPatternConfig:
    """Factor 4: self-correction phrases, repeated actions, repeated coordinates, sample-type modifier."""

    phrases: tuple[str, ...] = DEFAULT_PHRASES
    """Self-correction phrases, matched case-insensitively as whole words / phrases in thoughts."""
    phrase_score: float = 0.3
    """Added once when any thought contains a phrase."""
    repetition_run: int = 3
    """A known action equal to the (repetition_run - 1) known actions before it is a repetition."""
    repetition_score: float = 0.2
    """Added per repetition."""
    coordinate_action: str = "SEGMENT_OBJECT_AT"
    """The action whose repeated coordinates count as backtracking."""
    coordinate_field: str = "coordinates"
    """The parameters field compared between those actions."""
    repeated_coordinate_score: float = 0.2
    """Added per step whose coordinates equal an earlier one's."""
    sample_type_modifiers: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SAMPLE_TYPE_MODIFIERS))
    """Added by sample_type (unknown types add 0)."""
    cap: float = 1.0
    """The factor is min(cap, sum)."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(all(ph.strip() for ph in self.phrases), "phrases: a phrase must not be empty")
        p.check(self.repetition_run >= 2, f"repetition_run: must be >= 2 (got {self.repetition_run})")
        for name in ("phrase_score", "repetition_score", "repeated_coordinate_score", "cap"):
            p.number(name, getattr(self, name), 0)
        p.non_negative_table("sample_type_modifiers", self.sample_type_modifiers)
        p.raise_if_any()


@dataclass(frozen=True)
class TaskConfig:
    """Factor 5: a table lookup by task_type (case-insensitive)."""

    difficulty: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TASK_DIFFICULTY))
    """Difficulty of each task type."""
    default: float = 0.5
    """Difficulty of a task type not in the table."""

    def __post_init__(self) -> None:
        p = Problems()
        p.non_negative_table("difficulty", self.difficulty)
        lowered = [k.lower() for k in self.difficulty]
        p.check(len(set(lowered)) == len(lowered), "difficulty: two task types differ only by case")
        p.number("default", self.default, 0, 1)
        p.raise_if_any()


@dataclass(frozen=True)
class CustomFactorsConfig:
    """Extra factors from a user module: functions returning ``pl.Expr``, added with their own weight."""

    module: str | None = None
    """Importable module name or path to a .py file; None for no custom factors."""
    weights: dict[str, float] = field(default_factory=dict)
    """Weight of each custom factor, by function name; only listed functions are used."""
    renormalize: bool = False
    """Rescale all weights (built-in and custom) to sum to 1."""

    def __post_init__(self) -> None:
        p = Problems()
        p.non_negative_table("weights", self.weights)
        p.check(self.module is not None or not self.weights, "weights: given without a module")
        p.raise_if_any()


@dataclass(frozen=True)
class ModelScoresConfig:
    """The ``model_difficulty`` factor: the percentile rank of a model's per-sample loss (docs/design.md §4)."""

    path: str | None = None
    """Parquet with a row per sample (sample_id, model_loss), e.g. from `pixelis model-score`; None: no model factor."""
    weight: float = MODEL_FACTOR.weight
    """Weight of model_difficulty in the composite; the heuristic weights are scaled to sum to 1 - weight."""

    def __post_init__(self) -> None:
        p = Problems()
        p.number("weight", self.weight, 0, 1)
        p.check(self.path is None or bool(self.path.strip()), "path: must not be empty (null: no model scores)")
        p.raise_if_any()


@dataclass(frozen=True)
class ScoreConfig:
    """The five factors, their weights and the clip bounds of the composite (docs/design.md §4)."""

    weights: dict[str, float] = field(default_factory=default_weights)
    """Weight of each built-in factor in the composite, by output column (``pixelis_data/factor_registry.py``)."""
    clip_min: float = 0.1
    """Lower clip bound of difficulty_score."""
    clip_max: float = 1.0
    """Upper clip bound of difficulty_score."""
    trajectory: TrajectoryComplexityConfig = field(default_factory=TrajectoryComplexityConfig)
    """Factor 1, trajectory_complexity."""
    operations: OperationConfig = field(default_factory=OperationConfig)
    """Factor 2, operation_sophistication."""
    reasoning: ReasoningConfig = field(default_factory=ReasoningConfig)
    """Factor 3, reasoning_depth."""
    errors: ErrorPatternConfig = field(default_factory=ErrorPatternConfig)
    """Factor 4, error_patterns."""
    task: TaskConfig = field(default_factory=TaskConfig)
    """Factor 5, task_type_score."""
    custom: CustomFactorsConfig = field(default_factory=CustomFactorsConfig)
    """Optional user factors."""
    model_scores: ModelScoresConfig = field(default_factory=ModelScoresConfig)
    """Optional model difficulty from a per-sample model-scores Parquet (``--model-scores``)."""

    def __post_init__(self) -> None:
        p = Problems()
        for key in self.weights:
            if key in RENAMED_WEIGHT_KEYS:
                p.add(f"weights.{key}: renamed to {RENAMED_WEIGHT_KEYS[key]} (weights are keyed by output column)")
            else:
                p.check(key in FACTORS, f"weights.{key}: unknown factor (known: {', '.join(FACTORS)})")
        _non_negative_table(p, "weights", self.weights)
        p.check(
            self.clip_min <= self.clip_max,
            f"clip_min/clip_max: clip_min must be <= clip_max (got {self.clip_min}, {self.clip_max})",
        )
        p.raise_if_any()


@dataclass(frozen=True)
class DataConfig:
    """Everything the data side reads from ``--config``: one YAML file with these sections."""

    read: ReadConfig = field(default_factory=ReadConfig)
    """Reading and normalising input records."""
    score: ScoreConfig = field(default_factory=ScoreConfig)
    """Difficulty factors and composite."""
    split: SplitConfig = field(default_factory=SplitConfig)
    """Percentile categories, IQR filter and held-out eval selection of ``pixelis split``."""
