"""A canonical record -> the model's chat (Qwen ChatML) as token ids with labels on assistant tokens only.

The conversation is built as text pieces, each flagged trained or not:

    <|im_start|>system ... <|im_end|>                      masked   (operations listed)
    <|im_start|>user <image(s)> question <|im_end|>         masked
    <|im_start|>assistant <think>..</think> <tool_call>{"name", "arguments"}</tool_call><|im_end|>   trained
    <|im_start|>user <tool_response> observation </tool_response><|im_end|>                       masked
    ... one assistant turn per operation, one observation after each ...
    <|im_start|>assistant <think>..</think> <answer>..</answer><|im_end|>                          trained

The whole text is tokenized once (so token boundaries are exactly the tokenizer's own), and each
token is labelled from the character span it starts in. The role header ``<|im_start|>assistant\\n``
is masked; the assistant content and its ``<|im_end|>`` are trained (the model must learn to stop).
For VL models every image becomes ``<|vision_start|>`` + n x ``<|image_pad|>`` + ``<|vision_end|>``
with n from the image processor's patch grid, exactly what Qwen2-VL-family models expect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pixelis_train.config import FormatConfig
from pixelis_train.images import BadSampleError, crop, is_empty_data_uri, load_image, parse_bbox

IGNORE_INDEX = -100
IMAGE_PAD = "<|image_pad|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
# Tokens a tokenizer must know for this chat format (tiny tokenizers are trained with them).
CHAT_SPECIAL_TOKENS: tuple[str, ...] = ("<|endoftext|>", IM_START, IM_END)
VISION_SPECIAL_TOKENS: tuple[str, ...] = (VISION_START, VISION_END, IMAGE_PAD, "<|video_pad|>")
MARKUP_TOKENS: tuple[str, ...] = (
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
)


@dataclass
class Example:
    """One formatted sample: token ids, labels (-100 = not trained) and the images' patches."""

    sample_id: str
    category: str | None
    input_ids: list[int]
    labels: list[int]
    action_positions: list[list[int]] = field(default_factory=list)
    """Token positions of each tool call's operation name (for action accuracy)."""
    pixel_values: np.ndarray | None = None
    """All images' patches, concatenated in order (Qwen2-VL layout: n_patches x patch_dim)."""
    image_grid_thw: list[tuple[int, int, int]] = field(default_factory=list)
    truncated: bool = False
    final_turn_positions: list[int] = field(default_factory=list)
    """Token positions of the last assistant turn's trained tokens (its thought, the answer, <|im_end|>)."""
    answer_positions: list[int] = field(default_factory=list)
    """Token positions of the answer text inside <answer></answer> (empty: the record has no answer).
    ``input_ids[:answer_positions[0]]`` is the teacher-forced prefix a model answers from."""


@dataclass
class _Piece:
    text: str
    trained: bool = False
    action_name: bool = False
    final_turn: bool = False
    answer: bool = False


def _text_of(value: str | None) -> str:
    return (value or "").strip()


def _json_or_text(text: str | None) -> Any:
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text


def _observation_text(result: Any) -> str:
    if isinstance(result, dict):
        shown = {k: v for k, v in result.items() if k not in ("image", "image_path", "images")}
        return json.dumps(shown, ensure_ascii=False) if shown else ""
    if isinstance(result, str):
        return result.strip()
    return json.dumps(result, ensure_ascii=False)


def _observation_image_paths(result: Any) -> list[str]:
    """Images an observation carries itself. Inline images whose payload an export stripped carry
    nothing, so they are left out here; a ZOOM_IN observation is then re-created by cropping."""
    if not isinstance(result, dict):
        return []
    paths: list[str] = []
    for key in ("image", "image_path"):
        if isinstance(result.get(key), str) and result[key]:
            paths.append(result[key])
    if isinstance(result.get("images"), list):
        paths.extend(p for p in result["images"] if isinstance(p, str) and p)
    return [p for p in paths if not is_empty_data_uri(p)]


def default_system_prompt(operations: dict[str, str]) -> str:
    """The system prompt listing the operations the model may call."""
    lines = [
        "You are a visual reasoning assistant. Think inside <think></think>, call one operation at a time "
        'as <tool_call>{"name": ..., "arguments": {...}}</tool_call>, read its result, and give the final '
        "answer inside <answer></answer>.",
        "",
        "Operations:",
    ]
    lines += [f"- {name}: {desc}" for name, desc in operations.items()]
    return "\n".join(lines)


class ChatFormatter:
    """Formats canonical records for one model: a tokenizer, plus an image processor for VL models.

    ``image_processor`` is a Qwen2-VL-family image processor (``merge_size``, returns ``pixel_values``
    and ``image_grid_thw``); ``None`` means a text-only model, which gets observations as text.
    """

    def __init__(
        self,
        tokenizer: Any,
        cfg: FormatConfig,
        image_processor: Any = None,
        image_root: Path | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.cfg = cfg
        self.image_processor = image_processor
        self.image_root = image_root
        self.system_prompt = cfg.system_prompt or default_system_prompt(cfg.operations)
        needed = CHAT_SPECIAL_TOKENS + (VISION_SPECIAL_TOKENS if image_processor is not None else ())
        unk = getattr(tokenizer, "unk_token_id", None)
        missing = [t for t in needed if tokenizer.convert_tokens_to_ids(t) in (None, unk)]
        if missing:
            raise ValueError(f"the tokenizer lacks the chat tokens {missing}; use a Qwen-family tokenizer")
        self.image_pad_id = tokenizer.convert_tokens_to_ids(IMAGE_PAD)
        self.vision_start_id = tokenizer.convert_tokens_to_ids(VISION_START)

    @property
    def is_vl(self) -> bool:
        return self.image_processor is not None

    # -- building the conversation -------------------------------------------------------------
    def conversation(self, record: dict[str, Any], with_question: bool = True) -> tuple[list[_Piece], list[Any]]:
        """Text pieces of the conversation (image slots as ``IMAGE_PAD`` markers) and the images in order.

        ``with_question=False`` leaves the first user turn empty (no question text, no images), the
        unconditioned prompt of the IFD score (docs/model_score.md); ZOOM_IN crops still come from the
        source images, so the observations are unchanged.
        """
        sample_id = str(record.get("sample_id"))
        images: list[Any] = []
        source_images: list[Any] = []
        if self.is_vl:
            paths = list(record.get("images") or [])
            if not paths:
                raise BadSampleError(sample_id, "has no image (a VL model needs one)")
            source_images = [load_image(p, self.image_root, sample_id) for p in paths]

        pieces = [_Piece(f"{IM_START}system\n{self.system_prompt}{IM_END}\n")]
        user = f"{IM_START}user\n"
        for img in source_images if with_question else ():
            images.append(img)
            user += VISION_START + IMAGE_PAD + VISION_END
        question = _text_of(record.get("question")) if with_question else ""
        pieces.append(_Piece(f"{user}{question}{IM_END}\n"))

        thoughts: list[str] = []
        for step in record.get("trajectory") or []:
            action = _text_of(step.get("action")) or "UNKNOWN"
            thought = _text_of(step.get("thought"))
            if action == self.cfg.think_action:
                thoughts.append(thought or _text_of(step.get("result")))
                continue
            if thought:
                thoughts.append(thought)
            params = _json_or_text(step.get("parameters"))
            pieces.append(_Piece(f"{IM_START}assistant\n"))
            pieces.append(_Piece(self._think(thoughts) + '<tool_call>\n{"name": "', trained=True))
            pieces.append(_Piece(json.dumps(action, ensure_ascii=False)[1:-1], trained=True, action_name=True))
            args = json.dumps(params if params != "" else {}, ensure_ascii=False)
            pieces.append(_Piece(f'", "arguments": {args}}}\n</tool_call>{IM_END}', trained=True))
            thoughts = []
            pieces.append(_Piece("\n" + self._observation(step, action, params, source_images, images, sample_id)))

        # A trajectory cut off before its answer (real exports have them) ends without an answer turn,
        # rather than teaching the model to answer nothing.
        answer = _text_of(record.get("answer"))
        think = self._think(thoughts)
        if think or answer:
            pieces.append(_Piece(f"{IM_START}assistant\n"))
            if answer:  # three pieces, one text: the answer's own tokens are located, the tokenization is unchanged
                pieces.append(_Piece(f"{think}<answer>", trained=True, final_turn=True))
                pieces.append(_Piece(answer, trained=True, final_turn=True, answer=True))
                pieces.append(_Piece(f"</answer>{IM_END}", trained=True, final_turn=True))
            else:
                pieces.append(_Piece(f"{think}{IM_END}", trained=True, final_turn=True))
            pieces.append(_Piece("\n"))
        return pieces, images

    @staticmethod
    def _think(thoughts: list[str]) -> str:
        text = "\n".join(t for t in thoughts if t)
        return f"<think>\n{text}\n</think>\n" if text else ""

    def _observation(
        self,
        step: dict[str, Any],
        action: str,
        params: Any,
        source_images: list[Any],
        images: list[Any],
        sample_id: str,
    ) -> str:
        result = _json_or_text(step.get("result"))
        text = _observation_text(result)
        image_markup = ""
        if self.is_vl:
            obs_paths = _observation_image_paths(result)
            obs_images = [load_image(p, self.image_root, sample_id) for p in obs_paths]
            if not obs_images and action == self.cfg.zoom_action and isinstance(params, dict):
                bbox = parse_bbox(params)
                if bbox is not None:
                    index = params.get("image_index", 0)
                    if not isinstance(index, int) or not 0 <= index < len(source_images):
                        raise BadSampleError(sample_id, f"{action} image_index {index!r} is out of range")
                    obs_images = [crop(source_images[index], bbox)]
            images.extend(obs_images)
            image_markup = (VISION_START + IMAGE_PAD + VISION_END) * len(obs_images)
        body = image_markup + (text if text else ("" if image_markup else "(no output)"))
        return f"{IM_START}user\n<tool_response>\n{body}\n</tool_response>{IM_END}\n"

    # -- tokenizing --------------------------------------------------------------------------
    def format(self, record: dict[str, Any], with_question: bool = True) -> Example:
        """Token ids, labels and image patches of ``record``; raises :class:`BadSampleError` if it cannot.

        ``with_question=False``: the same chat without the question and its images (see :meth:`conversation`).
        """
        sample_id = str(record.get("sample_id"))
        pieces, images = self.conversation(record, with_question)
        pixel_values = None
        grids: list[tuple[int, int, int]] = []
        if images:
            try:
                processed = self.image_processor(images=images, return_tensors="np")
            except (ValueError, OSError) as err:
                raise BadSampleError(sample_id, f"image processor failed ({err})") from None
            pixel_values = np.asarray(processed["pixel_values"], dtype=np.float32)
            grids = [tuple(int(v) for v in g) for g in processed["image_grid_thw"]]
            merge = int(self.image_processor.merge_size) ** 2
            pieces = self._expand_images(pieces, [t * h * w // merge for t, h, w in grids])

        text, trained_spans, action_spans, final_spans, answer_spans = "", [], [], [], []
        for piece in pieces:
            start = len(text)
            text += piece.text
            for flag, spans in ((piece.trained, trained_spans), (piece.action_name, action_spans)):
                if flag:
                    spans.append((start, len(text)))
            for flag, spans in ((piece.final_turn, final_spans), (piece.answer, answer_spans)):
                if flag:
                    spans.append((start, len(text)))
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids: list[int] = list(enc["input_ids"])
        starts = np.array([s for s, _ in enc["offset_mapping"]], dtype=np.int64)
        labels = np.full(len(ids), IGNORE_INDEX, dtype=np.int64)
        id_arr = np.asarray(ids, dtype=np.int64)
        for lo, hi in trained_spans:
            mask = (starts >= lo) & (starts < hi)
            labels[mask] = id_arr[mask]
        actions = [np.flatnonzero((starts >= lo) & (starts < hi)).tolist() for lo, hi in action_spans]
        final_turn, answer_tokens = (
            sorted(p for lo, hi in spans for p in np.flatnonzero((starts >= lo) & (starts < hi)).tolist())
            for spans in (final_spans, answer_spans)
        )
        example = Example(
            sample_id,
            record.get("category"),
            ids,
            labels.tolist(),
            actions,
            pixel_values,
            grids,
            final_turn_positions=final_turn,
            answer_positions=answer_tokens,
        )
        if len(ids) > self.cfg.max_length:
            example = self._truncate(example)
        return example

    @staticmethod
    def _expand_images(pieces: list[_Piece], counts: list[int]) -> list[_Piece]:
        out, k = [], 0
        for piece in pieces:
            parts = piece.text.split(IMAGE_PAD)
            text = parts[0]
            for part in parts[1:]:
                text += IMAGE_PAD * counts[k] + part
                k += 1
            out.append(_Piece(text, piece.trained, piece.action_name, piece.final_turn, piece.answer))
        return out

    def _truncate(self, ex: Example) -> Example:
        """Cut to max_length at the end, never inside an image (an image is kept whole or not at all)."""
        cut = self.cfg.max_length
        ids = np.asarray(ex.input_ids)
        starts = np.flatnonzero(ids == self.vision_start_id)
        kept_images = 0
        patches = 0
        for i, start in enumerate(starts[: len(ex.image_grid_thw)]):
            t, h, w = ex.image_grid_thw[i]
            merge = int(self.image_processor.merge_size) ** 2
            end = start + 1 + t * h * w // merge  # index of <|vision_end|>
            if end < cut:
                kept_images += 1
                patches += t * h * w
            else:
                cut = min(cut, int(start))
                break
        pixel_values = ex.pixel_values[:patches] if ex.pixel_values is not None and kept_images else None
        return Example(
            ex.sample_id,
            ex.category,
            ex.input_ids[:cut],
            ex.labels[:cut],
            [pos for pos in ex.action_positions if pos and pos[-1] < cut],
            pixel_values,
            ex.image_grid_thw[:kept_images],
            truncated=True,
            final_turn_positions=[p for p in ex.final_turn_positions if p < cut],
            # a cut answer cannot be asked for: the prefix would be complete but the reference not
            answer_positions=ex.answer_positions if ex.answer_positions and ex.answer_positions[-1] < cut else [],
        )
