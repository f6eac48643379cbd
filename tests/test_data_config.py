"""The shipped configs/data.yaml is exactly the dataclass defaults, and config problems are reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixelis_core.config_io import ConfigError, from_dict, load_yaml, to_dict
from pixelis_data.config import DataConfig, ReadConfig, ScoreConfig

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_yaml_equals_defaults():
    assert load_yaml(DataConfig, ROOT / "configs" / "data.yaml") == DataConfig()


def test_round_trip():
    cfg = DataConfig()
    assert from_dict(DataConfig, to_dict(cfg)) == cfg


def test_every_problem_reported_with_field_and_value():
    with pytest.raises(ConfigError) as info:
        from_dict(
            DataConfig,
            {
                "read": {"chunk_mb": 0, "typo": 1},
                "score": {
                    "weights": {"nope": 1.0},
                    "operations": {"complexity": {"ZOOM_IN": -2.0}},
                    "reasoning": {"low_ratio": 0.9, "high_ratio": 0.5},
                },
            },
        )
    message = str(info.value)
    for part in (
        "read.chunk_mb: must be between 1 and 4096 (got 0)",
        "read.typo: unknown field",
        "score.weights.nope: unknown factor",
        "score.operations.complexity.ZOOM_IN: must be a finite number",
        "score.reasoning.low_ratio/high_ratio",
    ):
        assert part in message


def test_wrong_types_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match=r"score.clip_min: must be a number \(got 'low'\)"):
        from_dict(DataConfig, {"score": {"clip_min": "low"}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("score: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_yaml(DataConfig, bad)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_yaml(DataConfig, tmp_path / "missing.yaml")


def test_extra_aliases_extend_the_table():
    cfg = ReadConfig(extra_aliases={"MagnifyRegion": "ZOOM_IN", "ocr": "MY_OCR"})
    table = cfg.alias_table(("ZOOM_IN",))
    assert table["magnifyregion"] == "ZOOM_IN"
    assert table["ocr"] == "MY_OCR"  # the user's entry wins over the default OCR -> READ_TEXT
    assert table["zoomin"] == "ZOOM_IN"


def test_score_config_rejects_unknown_weight_keys():
    with pytest.raises(ConfigError, match=r"weights\.speed: unknown factor"):
        ScoreConfig(weights={"speed": 1.0})
