"""Base model + tokenizer / image processor from a local directory or hub id, and the LoRA adapter on top.

VL architectures (a config with a ``vision_config``) load with AutoModelForImageTextToText and the
PIL image processor (no video processor: torchvision is not needed); text models with
AutoModelForCausalLM. The chat format uses Qwen2-VL-family image tokens, so VL models must be of
that family (Qwen2-VL, Qwen2.5-VL); other VL architectures are refused with a clear message.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixelis_train._deps import require
from pixelis_train.config import LoraConfig, ModelConfig

QWEN_VL_TYPES: tuple[str, ...] = ("qwen2_vl", "qwen2_5_vl")
# Matches every module of a Qwen-VL vision tower (``model.visual.*`` / ``visual.*``).
VISION_MODULES_REGEX = r".*\bvisual\b.*"
# The weight files PEFT saves an adapter as (``save_pretrained``), newest format first.
ADAPTER_WEIGHTS: tuple[str, ...] = ("adapter_model.safetensors", "adapter_model.bin")


@dataclass
class LoadedModel:
    """A base model with what is needed to feed it."""

    model: Any
    tokenizer: Any
    image_processor: Any | None
    source: str
    """The directory or hub id it was loaded from (recorded in the adapter config)."""

    @property
    def is_vl(self) -> bool:
        return self.image_processor is not None


def resolve_dtype(name: str, device: Any) -> Any:
    """'auto' -> bfloat16 on CUDA, float32 elsewhere."""
    torch = require("torch")
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def load_base(source: str | Path, cfg: ModelConfig, device: Any, *, compute_device: Any = None) -> LoadedModel:
    """Load model, tokenizer and (VL) image processor from ``source``; errors name the source.

    The weights go to ``device``; their dtype is chosen for ``compute_device`` (default: ``device``), so a
    model can be loaded on the CPU in the dtype it will train in on the GPU.
    """
    transformers = require("transformers")
    transformers.utils.logging.disable_progress_bar()  # the run has its own progress display
    source = str(source)
    local = Path(source).is_dir()
    kwargs: dict[str, Any] = {"local_files_only": local}
    try:
        config = transformers.AutoConfig.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as err:
        hint = "" if local else " (not a local directory; hub ids need network access or the HF cache)"
        raise ValueError(f"cannot load model {source!r}{hint}: {err}") from None
    dtype = resolve_dtype(cfg.dtype, device if compute_device is None else compute_device)
    vision = getattr(config, "vision_config", None) is not None
    tokenizer = transformers.AutoTokenizer.from_pretrained(source, **kwargs)
    image_processor = None
    if vision:
        if config.model_type not in QWEN_VL_TYPES:
            raise ValueError(
                f"model {source!r} is a {config.model_type} VL model; pixelis formats images for the "
                f"Qwen2-VL family ({', '.join(QWEN_VL_TYPES)})"
            )
        image_processor = transformers.AutoImageProcessor.from_pretrained(source, backend="pil", **kwargs)
        size = dict(image_processor.size)
        if cfg.min_pixels is not None:
            size["shortest_edge"] = cfg.min_pixels
        if cfg.max_pixels is not None:
            size["longest_edge"] = cfg.max_pixels
        image_processor.size = size
        auto = transformers.AutoModelForImageTextToText
    else:
        auto = transformers.AutoModelForCausalLM
    model = auto.from_pretrained(source, dtype=dtype, attn_implementation=cfg.attn_implementation, **kwargs)
    model.to(device)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model, tokenizer, image_processor, source)


def add_lora(loaded: LoadedModel, lora: LoraConfig, model_cfg: ModelConfig) -> Any:
    """Wrap the model with a fresh LoRA adapter (docs/design.md §8); only adapter weights are trainable."""
    peft = require("peft")
    exclude = VISION_MODULES_REGEX if (loaded.is_vl and model_cfg.freeze_vision) else None
    config = peft.LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        exclude_modules=exclude,
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():
        # peft probes a deprecated transformers attribute; the warning is theirs, not the user's
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        model = peft.get_peft_model(loaded.model, config)
    if model_cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    return model


def load_adapter(model: Any, adapter_dir: str | Path) -> Any:
    """A trained PEFT adapter (e.g. ``RUN_DIR/adapter``) on ``model``, frozen and in eval mode.

    Raises ValueError naming the directory when it is not an adapter or does not fit the model.
    """
    peft = require("peft")
    path = Path(adapter_dir)
    if not (path / "adapter_config.json").is_file():
        raise ValueError(f"adapter {path}: not a PEFT adapter directory (no adapter_config.json)")
    if not any((path / name).is_file() for name in ADAPTER_WEIGHTS):
        # without local weights peft would take the path for a hub id and go to the network
        raise ValueError(f"adapter {path}: no adapter weights ({' or '.join(ADAPTER_WEIGHTS)})")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            adapted = peft.PeftModel.from_pretrained(model, str(path), is_trainable=False)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"adapter {path}: cannot be loaded onto this model ({first})") from None
    return adapted.eval()


def trainable_summary(model: Any) -> tuple[int, int]:
    """(trainable parameters, all parameters)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
