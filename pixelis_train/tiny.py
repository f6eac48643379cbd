"""``tiny-vl`` / ``tiny-text``: tiny random Qwen2.5-VL / Qwen3 models with a BPE tokenizer trained on the data.

They let the whole pipeline (formatting, LoRA, loop, checkpoints, resume) run offline in seconds on a
CPU. The model directory is an ordinary Hugging Face directory (config, safetensors, tokenizer, image
processor), so it loads through the same path as a real model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pixelis_core.atomic import atomic_dir
from pixelis_train._deps import require
from pixelis_train.chat import CHAT_SPECIAL_TOKENS, MARKUP_TOKENS, VISION_SPECIAL_TOKENS

TINY_NAMES: tuple[str, ...] = ("tiny-vl", "tiny-text")

# ChatML, as Qwen's own templates render plain text messages (so apply_chat_template agrees with chat.py).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Sizes: small enough that a CPU step takes tens of milliseconds, big enough that LoRA can fit the data.
TEXT_DIMS = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
}
VISION_DIMS = {
    "depth": 2,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_heads": 2,
    "fullatt_block_indexes": [1],
    "window_size": 56,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
}
# Up to 16 image tokens per image (112 x 112 pixels) keeps VL sequences short on a CPU.
TINY_MIN_PIXELS = 28 * 28
LM_HEAD_STD = 0.25
TINY_MAX_PIXELS = 112 * 112


def train_tokenizer(texts: Iterable[str], vocab_size: int, vision: bool):  # -> TokenizersBackend
    """A byte-level BPE tokenizer trained on ``texts`` with the chat (and vision) special tokens."""
    tk = require("tokenizers")
    transformers = require("transformers")
    specials = list(CHAT_SPECIAL_TOKENS) + (list(VISION_SPECIAL_TOKENS) if vision else [])
    tok = tk.Tokenizer(tk.models.BPE())
    tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    # Qwen tokenizers also hold the markup tags as added (non-special) tokens; decoding keeps them.
    tok.add_tokens(list(MARKUP_TOKENS))
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHATML_TEMPLATE,
    )


def _text_config(tokenizer, vision: bool) -> dict:
    ids = tokenizer.convert_tokens_to_ids
    cfg = {
        **TEXT_DIMS,
        "vocab_size": len(tokenizer),
        "max_position_embeddings": 8192,
        "bos_token_id": ids("<|endoftext|>"),
        "eos_token_id": ids("<|im_end|>"),
        "pad_token_id": ids("<|endoftext|>"),
        "tie_word_embeddings": False,
    }
    if vision:
        cfg.pop("head_dim")  # Qwen2.5-VL derives it; mrope sections must sum to head_dim / 2 = 8
        cfg["rope_parameters"] = {"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0}
    return cfg


def build_tiny(kind: str, texts: Iterable[str], out_dir: Path, vocab_size: int = 2048, seed: int = 0) -> Path:
    """Build ``kind`` ('tiny-vl' or 'tiny-text') into ``out_dir`` (atomically) and return it.

    An existing complete directory is reused, so a resumed run sees the very same base weights.
    """
    if kind not in TINY_NAMES:
        raise ValueError(f"unknown tiny model {kind!r} (known: {', '.join(TINY_NAMES)})")
    out_dir = Path(out_dir)
    if (out_dir / "config.json").exists():
        return out_dir
    torch = require("torch")
    transformers = require("transformers")
    transformers.utils.logging.disable_progress_bar()
    vision = kind == "tiny-vl"
    tokenizer = train_tokenizer(texts, vocab_size, vision)
    text_cfg = _text_config(tokenizer, vision)
    ids = tokenizer.convert_tokens_to_ids
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if vision:
            config = transformers.Qwen2_5_VLConfig(
                text_config=text_cfg,
                vision_config={**VISION_DIMS, "out_hidden_size": TEXT_DIMS["hidden_size"]},
                image_token_id=ids("<|image_pad|>"),
                video_token_id=ids("<|video_pad|>"),
                vision_start_token_id=ids("<|vision_start|>"),
                vision_end_token_id=ids("<|vision_end|>"),
            )
            model = transformers.Qwen2_5_VLForConditionalGeneration(config)
        else:
            model = transformers.Qwen3ForCausalLM(transformers.Qwen3Config(**text_cfg))
        # With the default init (std 0.02) the frozen output head of a 64-wide model yields logits of
        # ~0.2, so no adapter could make a confident prediction and the loss would stall near ln(vocab).
        # A wider head (logit std ~2, like a trained model's) lets LoRA move the loss, not only argmax.
        model.get_output_embeddings().weight.data.normal_(0.0, LM_HEAD_STD)
    with atomic_dir(out_dir, fsync=False) as tmp:  # rebuilt from the seed on every run: no fsync needed
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if vision:
            from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

            Qwen2VLImageProcessorPil(min_pixels=TINY_MIN_PIXELS, max_pixels=TINY_MAX_PIXELS).save_pretrained(tmp)
    return out_dir


def corpus_from_split(split_dir: Path, fmt) -> list[str]:  # fmt: FormatConfig
    """The text a tiny tokenizer is trained on: every text field of the split, plus the chat's fixed text."""
    import polars as pl

    from pixelis_train.chat import default_system_prompt
    from pixelis_train.stream.split_files import open_arrow

    frames = []
    for name in ("simple", "medium", "hard", "eval"):
        path = Path(split_dir) / f"{name}.arrow"
        if path.is_file():
            # the first rows of each file are plenty for a tiny vocabulary; big splits stay cheap
            table = open_arrow(path).select(["question", "answer", "trajectory"]).slice(0, 20_000)
            frames.append(pl.from_arrow(table))
    if not frames:
        raise ValueError(f"{split_dir}: no split files to train a tokenizer on (run `pixelis split` first)")
    data = pl.concat(frames, how="vertical_relaxed")
    steps = data.select(pl.col("trajectory").explode()).unnest("trajectory")
    texts = [
        fmt.system_prompt or default_system_prompt(fmt.operations),
        '<tool_call>\n{"name": "',
        '", "arguments": {}}\n</tool_call>',
    ]
    for column in (data["question"], data["answer"], *(steps[c] for c in steps.columns)):
        texts.extend(column.drop_nulls().cast(pl.String).to_list())
    return texts
