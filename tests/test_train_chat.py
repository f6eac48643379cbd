"""Chat formatting: labels only on assistant tokens, images and crops, bad samples, truncation."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pixelis_train.batch import FormatStats, format_rows
from pixelis_train.chat import IGNORE_INDEX, IMAGE_PAD, ChatFormatter
from pixelis_train.config import FormatConfig, ModelConfig
from pixelis_train.images import MIN_CROP, BadSampleError, clamp_bbox
from pixelis_train.models import load_base
from pixelis_train.tiny import build_tiny


def _record(sample_id: str = "s1", image: str = "a.png", bbox: list[float] | None = None) -> dict:
    return {
        "sample_id": sample_id,
        "question": "What colour is the car?",
        "images": [image],
        "answer": "red",
        "trajectory": [
            {"action": "THINK", "thought": "Look at the car.", "parameters": "{}", "result": ""},
            {
                "action": "ZOOM_IN",
                "thought": "Zoom on it.",
                "parameters": json.dumps({"bbox": bbox or [10, 10, 80, 90]}),
                "result": json.dumps({"description": "a red car"}),
            },
            {"action": "READ_TEXT", "thought": "", "parameters": "{}", "result": "plate ABC"},
        ],
    }


TEXTS = ["What colour is the car? red Look at the car. Zoom on it. a red car plate ABC description"] * 20


@pytest.fixture(scope="module")
def vl(tmp_path_factory):
    root = tmp_path_factory.mktemp("vl")
    import torch

    base = load_base(build_tiny("tiny-vl", TEXTS, root / "model", 512), ModelConfig(), torch.device("cpu"))
    images = root / "images"
    images.mkdir()
    Image.new("RGB", (200, 150), (200, 20, 20)).save(images / "a.png")
    (images / "broken.png").write_bytes(b"not a png")
    return base, images


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    import torch

    root = tmp_path_factory.mktemp("text")
    return load_base(build_tiny("tiny-text", TEXTS, root / "model", 512), ModelConfig(), torch.device("cpu"))


def test_labels_cover_exactly_the_assistant_turns(vl):
    base, images = vl
    fmt = ChatFormatter(base.tokenizer, FormatConfig(), base.image_processor, images)
    ex = fmt.format(_record())
    tok = base.tokenizer
    trained = tok.decode([i for i, label in zip(ex.input_ids, ex.labels, strict=True) if label != IGNORE_INDEX])
    assert trained == (
        '<think>\nLook at the car.\nZoom on it.\n</think>\n<tool_call>\n{"name": "ZOOM_IN", "arguments": '
        '{"bbox": [10, 10, 80, 90]}}\n</tool_call><|im_end|>'
        '<tool_call>\n{"name": "READ_TEXT", "arguments": {}}\n</tool_call><|im_end|>'
        "<answer>red</answer><|im_end|>"
    )
    full = tok.decode(ex.input_ids)
    # system, user question, and both observations are present but masked
    masked_parts = (
        "<|im_start|>system\n",
        "What colour is the car?",
        "a red car",
        "plate ABC",
        "<|im_start|>assistant\n",
    )
    for masked in masked_parts:
        assert masked in full and masked not in trained
    # labels equal the ids where trained, and tokenizing the whole text gives the very same ids
    assert all(label in (IGNORE_INDEX, i) for i, label in zip(ex.input_ids, ex.labels, strict=True))
    assert tok(full, add_special_tokens=False)["input_ids"] == ex.input_ids
    assert [tok.decode([ex.input_ids[p] for p in pos]) for pos in ex.action_positions] == ["ZOOM_IN", "READ_TEXT"]


def test_images_and_zoom_crop_get_their_own_image_tokens(vl):
    base, images = vl
    fmt = ChatFormatter(base.tokenizer, FormatConfig(), base.image_processor, images)
    ex = fmt.format(_record())
    assert len(ex.image_grid_thw) == 2  # the source image and the ZOOM_IN crop
    merge = base.image_processor.merge_size**2
    pad_id = base.tokenizer.convert_tokens_to_ids(IMAGE_PAD)
    assert ex.input_ids.count(pad_id) == sum(t * h * w // merge for t, h, w in ex.image_grid_thw)
    assert ex.pixel_values.shape[0] == sum(t * h * w for t, h, w in ex.image_grid_thw)
    # the crop is 70 x 80 pixels: a smaller patch grid than the 200 x 150 source
    assert ex.image_grid_thw[1][1] * ex.image_grid_thw[1][2] < ex.image_grid_thw[0][1] * ex.image_grid_thw[0][2]


def test_degenerate_and_out_of_range_bboxes_still_format(vl):
    base, images = vl
    fmt = ChatFormatter(base.tokenizer, FormatConfig(), base.image_processor, images)
    for bbox in ([50, 50, 50, 50], [-30, -30, 5000, 5000], [90, 80, 10, 10]):
        ex = fmt.format(_record(bbox=bbox))
        assert len(ex.image_grid_thw) == 2


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-500, 1500, allow_nan=False), min_size=4, max_size=4),
    st.integers(1, 800),
    st.integers(1, 800),
)
def test_clamp_bbox_is_inside_and_big_enough(box, width, height):
    left, top, right, bottom = clamp_bbox(tuple(box), width, height)
    assert 0 <= left < right <= width and 0 <= top < bottom <= height
    assert right - left >= min(MIN_CROP, width) and bottom - top >= min(MIN_CROP, height)
    x1, x2 = sorted(box[::2])
    inside = max(0, min(width, int(x1))), max(0, min(width, round(x2)))
    if inside[1] - inside[0] >= MIN_CROP:  # a box large enough is kept as it is (clamped)
        assert (left, right) == inside


def test_missing_or_unreadable_image_names_the_sample(vl):
    base, images = vl
    fmt = ChatFormatter(base.tokenizer, FormatConfig(), base.image_processor, images)
    with pytest.raises(BadSampleError, match=r"sample 'gone': image not found: .*nope\.png"):
        fmt.format(_record("gone", "nope.png"))
    with pytest.raises(BadSampleError, match=r"sample 'bad': image unreadable: .*broken\.png"):
        fmt.format(_record("bad", "broken.png"))


def test_skip_bad_samples_counts_every_skip(vl):
    base, images = vl
    fmt = ChatFormatter(base.tokenizer, FormatConfig(), base.image_processor, images)
    rows = [_record("ok1"), _record("gone", "nope.png"), _record("ok2"), _record("bad", "broken.png")]
    stats = FormatStats()
    out = format_rows(rows, fmt, skip_bad=True, stats=stats)
    assert [ex.sample_id for ex in out] == ["ok1", "ok2"]
    assert (stats.formatted, stats.skipped) == (2, 2)
    assert "gone" in stats.skip_reasons[0] and "bad" in stats.skip_reasons[1]
    with pytest.raises(BadSampleError, match="gone"):
        format_rows(rows, fmt, skip_bad=False, stats=FormatStats())


def test_truncation_never_cuts_an_image(vl):
    base, images = vl
    full = ChatFormatter(base.tokenizer, FormatConfig(), base.image_processor, images).format(_record())
    pad_id = base.tokenizer.convert_tokens_to_ids(IMAGE_PAD)
    first_crop_pad = [i for i, t in enumerate(full.input_ids) if t == pad_id][-1]
    fmt = ChatFormatter(base.tokenizer, FormatConfig(max_length=first_crop_pad), base.image_processor, images)
    ex = fmt.format(_record())
    assert ex.truncated and len(ex.input_ids) < first_crop_pad
    assert len(ex.image_grid_thw) == 1  # the crop did not fit whole, so it went
    merge = base.image_processor.merge_size**2
    assert ex.input_ids.count(pad_id) == ex.image_grid_thw[0][1] * ex.image_grid_thw[0][2] // merge
    assert ex.pixel_values.shape[0] == ex.image_grid_thw[0][1] * ex.image_grid_thw[0][2]


def test_text_model_gets_observations_as_text_and_matches_chat_template(text_model):
    fmt = ChatFormatter(text_model.tokenizer, FormatConfig(system_prompt="Be brief."))
    record = _record()
    ex = fmt.format(record)
    full = text_model.tokenizer.decode(ex.input_ids)
    assert "<|vision_start|>" not in full and ex.pixel_values is None
    assert '<tool_response>\n{"description": "a red car"}\n</tool_response>' in full
    pieces, _ = fmt.conversation(record)
    # same text as the tokenizer's own chat template applied to the turns we built
    messages = []
    text = "".join(p.text for p in pieces)
    for turn in text.split("<|im_start|>")[1:]:
        role, content = turn.split("\n", 1)
        messages.append({"role": role, "content": content.removesuffix("\n").removesuffix("<|im_end|>")})
    assert text_model.tokenizer.apply_chat_template(messages, tokenize=False) == text


def test_vl_sample_without_image_is_a_bad_sample(vl):
    base, images = vl
    fmt = ChatFormatter(base.tokenizer, FormatConfig(), base.image_processor, images)
    record = {**_record("noimg"), "images": []}
    with pytest.raises(BadSampleError, match="'noimg': has no image"):
        fmt.format(record)


def test_url_images_are_refused_with_a_hint(vl):
    base, images = vl
    fmt = ChatFormatter(base.tokenizer, FormatConfig(), base.image_processor, images)
    with pytest.raises(BadSampleError, match="is a URL"):
        fmt.format(_record("url", "https://example.com/a.png"))


def test_formatter_refuses_tokenizer_without_chat_tokens(text_model):
    tok = text_model.tokenizer
    with pytest.raises(ValueError, match="lacks the chat tokens"):
        ChatFormatter(tok, FormatConfig(), image_processor=object())  # vision tokens are missing


def test_inline_images_are_decoded_and_stripped_ones_replaced_by_the_crop(vl):
    import base64
    import io

    base, images = vl
    buf = io.BytesIO()
    Image.new("RGB", (120, 90), (0, 0, 255)).save(buf, format="PNG")
    inline = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    record = _record("inline", inline)
    record["trajectory"][1]["result"] = json.dumps({"text": "zoomed", "images": ["data:image/jpeg;base64,"]})
    ex = ChatFormatter(base.tokenizer, FormatConfig(), base.image_processor, images).format(record)
    assert len(ex.image_grid_thw) == 2  # the decoded source + a crop standing in for the stripped image
    with pytest.raises(BadSampleError, match="'empty': inline data: image has no payload"):
        ChatFormatter(base.tokenizer, FormatConfig(), base.image_processor, images).format(
            _record("empty", "data:image/jpeg;base64,")
        )


def test_model_max_pixels_bounds_the_image_tokens(vl):
    import torch

    base, images = vl
    small = load_base(base.source, ModelConfig(max_pixels=56 * 56), torch.device("cpu"))
    ex = ChatFormatter(small.tokenizer, FormatConfig(), small.image_processor, images).format(_record())
    default = ChatFormatter(base.tokenizer, FormatConfig(), base.image_processor, images).format(_record())
    assert all(h * w <= 16 for _, h, w in ex.image_grid_thw)  # 56 x 56 px at most = 4 x 4 patches of 14 px
    assert (
        ex.image_grid_thw[0][1] * ex.image_grid_thw[0][2] < default.image_grid_thw[0][1] * default.image_grid_thw[0][2]
    )


def test_answer_and_final_turn_positions_locate_the_answer(text_model):
    fmt = ChatFormatter(text_model.tokenizer, FormatConfig())
    ex = fmt.format(_record())
    tok = text_model.tokenizer
    assert tok.decode([ex.input_ids[p] for p in ex.answer_positions]).strip() == "red"
    # the answer is the end of the last assistant turn, whose trained tokens end with <|im_end|>
    assert ex.answer_positions == sorted(ex.answer_positions)
    assert set(ex.answer_positions) < set(ex.final_turn_positions)
    assert all(ex.labels[p] == ex.input_ids[p] for p in ex.final_turn_positions)
    assert tok.decode([ex.input_ids[ex.final_turn_positions[-1]]]) == "<|im_end|>"
    assert tok.decode(ex.input_ids[: ex.answer_positions[0]]).endswith("<answer>")
    # trained tokens of the last turn are the last trained tokens of the sample
    trained = [i for i, label in enumerate(ex.labels) if label != IGNORE_INDEX]
    assert trained[-len(ex.final_turn_positions) :] == ex.final_turn_positions
    # a trajectory cut before its answer has no final turn (its last tool call ends the chat)
    no_answer = fmt.format({**_record(), "answer": ""})
    assert no_answer.answer_positions == [] and no_answer.final_turn_positions == []
