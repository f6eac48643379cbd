"""The cheaper formulations of the scoring plan (issue #15) against the per-step ones they replaced."""

from __future__ import annotations

import json

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixelis_data import factors as F
from pixelis_data.config import DEFAULT_COMPLEXITY, ErrorPatternConfig, OperationConfig, ReadConfig
from pixelis_data.readers.pixelis import INPUT_SCHEMA, REJECT_COL, _alias_expr, canonicalize
from tests.conftest import canonical_frame

TRAJ, ACTION, STEP = pl.col("trajectory"), pl.element().struct.field("action"), pl.element()


def per_step_repetitions(cfg: ErrorPatternConfig, ops: OperationConfig) -> pl.Expr:
    """The former n_repetitions: shifts of the known-action list inside list.eval."""
    element, same = pl.element(), pl.lit(True)
    for back in range(1, cfg.repetition_run):
        same = same & (element == element.shift(back))
    known = TRAJ.list.eval(ACTION.filter(ACTION.is_in(list(ops.complexity))))
    return known.list.eval(same.fill_null(False)).list.sum().fill_null(0)


def per_step_coordinates(cfg: ErrorPatternConfig) -> pl.Expr:
    """The former n_repeated_coordinates: json_path_match on every step."""
    params = pl.when(cfg.coordinate_action == ACTION).then(STEP.struct.field("parameters"))
    coords = params.str.json_path_match(f"$.{cfg.coordinate_field}").str.strip_chars()
    present = TRAJ.list.eval(pl.when(~coords.is_in(["", "[]", '""'])).then(coords)).list.drop_nulls()
    return (present.list.len() - present.list.n_unique()).fill_null(0)


FEW = ["ZOOM_IN", "THINK", "X"]  # few names: long runs of equal known actions, broken by unknown ones
PARAMS = [
    None,
    "not json",
    "{}",
    '{"coordinates": []}',
    '{"coordinates": ""}',
    '{"coordinates": "[]"}',
    '{"coordinates": [1, 2]}',
    '{"coordinates":[1,2]}',
    '{"coordinates": [3, 4]}',
    '{"coordinates": " a "}',
    '{"coordinates": "a"}',
    '{"coordinates": {"x": 1}}',
    '{"coordinates": null}',
    "[1, 2]",
]
steps = st.lists(
    st.fixed_dictionaries(
        {"action": st.sampled_from([*FEW, "SEGMENT_OBJECT_AT"]), "parameters": st.sampled_from(PARAMS)}
    ),
    max_size=40,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(steps, st.none()), min_size=1, max_size=8), st.integers(2, 7))
def test_counts_equal_the_per_step_formulation(trajectories, run):
    frame = canonical_frame([{"trajectory": t or []} for t in trajectories])
    frame = frame.with_columns(
        pl.when(pl.Series([t is None for t in trajectories])).then(None).otherwise(TRAJ).alias("trajectory")
    )
    errors, ops = ErrorPatternConfig(repetition_run=run), OperationConfig()
    got = frame.select(
        F.n_repetitions(errors, ops).cast(pl.UInt32).alias("r"), F.n_repeated_coordinates(errors).cast(pl.UInt32)
    )
    want = frame.select(
        per_step_repetitions(errors, ops).cast(pl.UInt32).alias("r"), per_step_coordinates(errors).cast(pl.UInt32)
    )
    assert got.equals(want), (trajectories, run)


def test_repetitions_with_a_large_table_and_no_known_actions():
    ops = OperationConfig(complexity={f"OP{i}": 1.0 for i in range(300)})
    frame = canonical_frame(
        [{"trajectory": [{"action": a} for a in acts]} for acts in (["OP299"] * 5, ["Y"] * 4, [], ["OP1", "OP10"] * 3)]
    )
    errors = ErrorPatternConfig(repetition_run=3)
    got = frame.select(F.n_repetitions(errors, ops).cast(pl.Int64))
    assert got.to_series().to_list() == frame.select(per_step_repetitions(errors, ops)).to_series().to_list()
    assert got.to_series().to_list() == [3, 0, 0, 0]


ODD = ["ZoomIn", " zoom_in ", "ZOOM-IN", "zoom in", "ＺｏｏｍＩｎ", "ÖCR", "İ", "Ǆ", "\u00a0THINK\u2003", "x\u200b", ""]
ODD += [" ", "\t", "THINK", "think", "Crop_Image", "SEGMENT_OBJECT_AT", "ocr.", "٣", "ß"]
action = st.one_of(st.sampled_from(ODD), st.text(max_size=6), st.none())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.lists(action, max_size=6), st.none()), min_size=1, max_size=8))
def test_canonicalize_maps_names_like_the_per_step_alias_expression(actions):
    table = ReadConfig(extra_aliases={"Ǆ": "DZ", "ß": "SS"}).alias_table(tuple(DEFAULT_COMPLEXITY))
    rows = [
        {"sample_id": str(i), "trajectory": None if a is None else [{"action": x, "thought": "t"} for x in a]}
        for i, a in enumerate(actions)
    ]
    frame = pl.DataFrame(rows, schema_overrides={"trajectory": INPUT_SCHEMA["trajectory"]})
    frame = frame.with_columns(pl.lit(None).cast(t).alias(c) for c, t in INPUT_SCHEMA.items() if c not in frame.columns)
    got = canonicalize(frame.select(INPUT_SCHEMA.names()), "pixelis", table)
    no_action = TRAJ.list.eval(ACTION.is_null() | (ACTION.str.strip_chars() == "")).list
    want_traj = TRAJ.list.eval(STEP.struct.with_fields(_alias_expr(ACTION, table).alias("action")))
    want = frame.select(
        want_traj,
        pl.when(TRAJ.is_null())
        .then(pl.lit("missing trajectory"))
        .when(no_action.any())
        .then(pl.format("trajectory[{}] has no action", no_action.arg_max()))
        .alias(REJECT_COL),
    )
    assert got[REJECT_COL].equals(want[REJECT_COL], null_equal=True), actions
    assert got["trajectory"].equals(want["trajectory"], null_equal=True), (actions, table)
    assert json.dumps(got["trajectory"].to_list()) == json.dumps(want["trajectory"].to_list())
