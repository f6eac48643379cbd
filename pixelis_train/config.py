"""Training configuration: one frozen dataclass per section; ``configs/train.yaml`` has exactly this shape.

``pixelis train --set KEY=VALUE`` and its specific flags override single fields (through
``pixelis_core.config_io.apply_overrides``); the resolved config is written to the run directory
(``config.yaml``) and stored in every checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, get_args

from pixelis_core.config_io import Problems
from pixelis_train.curriculum.config import CurriculumConfig
from pixelis_train.stream.config import StreamMode

DEFAULT_OPERATIONS: dict[str, str] = {
    "ZOOM_IN": 'crop the image to a region and look closer; arguments {"bbox": [x1, y1, x2, y2]} in pixels',
    "SEGMENT_OBJECT_AT": 'outline the object at a point; arguments {"coordinates": [x, y]}',
    "GET_PROPERTIES": 'colour, size, material of an object; arguments {"object": ...}',
    "READ_TEXT": 'read the text in a region; arguments {"bbox": [x1, y1, x2, y2]}',
    "TRACK_OBJECT": 'follow an object across frames; arguments {"object": ..., "frames": [...]}',
}
LORA_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LOG_TARGETS: tuple[str, ...] = ("wandb", "tensorboard")


@dataclass(frozen=True)
class ModelConfig:
    """Which model to fine-tune and how to load it."""

    name: str = "tiny-vl"
    """'tiny-vl' / 'tiny-text' (tiny random Qwen2.5-VL / Qwen3 built locally), a local directory or a hub id."""
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    """Weights dtype; 'auto' is bfloat16 on CUDA and float32 on CPU."""
    attn_implementation: Literal["sdpa", "eager"] = "sdpa"
    """Attention kernel passed to transformers."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (less memory, about 30% slower)."""
    freeze_vision: bool = True
    """Keep the vision tower frozen (no LoRA on it)."""
    max_pixels: int | None = None
    """Upper bound on pixels per image given to the image processor; None keeps the processor's own."""
    min_pixels: int | None = None
    """Lower bound on pixels per image; None keeps the processor's own."""
    tiny_vocab_size: int = 2048
    """Vocabulary size of the BPE tokenizer trained for tiny-vl / tiny-text."""
    cpu_threads: int | None = None
    """Torch intra-op threads on CPU; None: OMP_NUM_THREADS if set, else the process's CPUs minus one."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(bool(self.name.strip()), "name: must not be empty")
        for name in ("max_pixels", "min_pixels"):
            value = getattr(self, name)
            p.check(value is None or value >= 28 * 28, f"{name}: must be >= 784 (got {value})")
        if self.max_pixels is not None and self.min_pixels is not None:
            p.check(
                self.min_pixels <= self.max_pixels,
                f"min_pixels/max_pixels: min must be <= max (got {self.min_pixels}, {self.max_pixels})",
            )
        p.check(
            256 <= self.tiny_vocab_size <= 65536,
            f"tiny_vocab_size: must be in [256, 65536] (got {self.tiny_vocab_size})",
        )
        p.integer("cpu_threads", self.cpu_threads, minimum=1, optional=True)
        p.literals(self)
        p.raise_if_any()


@dataclass(frozen=True)
class LoraConfig:
    """LoRA adapter (PEFT); docs/design.md §8 defaults."""

    r: int = 32
    """Rank of the update matrices."""
    alpha: int = 64
    """Scaling numerator (the update is scaled by alpha / r)."""
    dropout: float = 0.1
    """Dropout on the LoRA input."""
    target_modules: tuple[str, ...] = LORA_TARGETS
    """Module names that get adapters: attention and MLP projections of the language model."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(self.r >= 1, f"r: must be >= 1 (got {self.r})")
        p.check(self.alpha >= 1, f"alpha: must be >= 1 (got {self.alpha})")
        p.number("dropout", self.dropout, 0, 1, high_open=True)
        p.check(bool(self.target_modules), "target_modules: must not be empty")
        p.raise_if_any()


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warmup then cosine decay; gradient accumulation and clipping."""

    steps: int = 10000
    """Total optimizer steps of the run."""
    micro_batch: int = 1
    """Samples per forward/backward pass (per process)."""
    grad_accum: int = 4
    """Micro-batches accumulated per optimizer step; global batch = micro_batch x grad_accum x world size."""
    lr: float = 2e-4
    """Peak learning rate."""
    min_lr_ratio: float = 0.0
    """The cosine decays to lr x min_lr_ratio at the last step."""
    warmup_steps: int = 100
    """Linear warmup steps from 0 to lr."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas."""
    eps: float = 1e-8
    """AdamW epsilon."""
    max_grad_norm: float = 1.0
    """Clip the global gradient norm to this (0 disables clipping)."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(self.steps >= 1, f"steps: must be >= 1 (got {self.steps})")
        p.check(self.micro_batch >= 1, f"micro_batch: must be >= 1 (got {self.micro_batch})")
        p.check(self.grad_accum >= 1, f"grad_accum: must be >= 1 (got {self.grad_accum})")
        p.check(math.isfinite(self.lr) and self.lr > 0, f"lr: must be > 0 (got {self.lr})")
        p.number("min_lr_ratio", self.min_lr_ratio, 0, 1)
        p.check(self.warmup_steps >= 0, f"warmup_steps: must be >= 0 (got {self.warmup_steps})")
        p.check(self.weight_decay >= 0, f"weight_decay: must be >= 0 (got {self.weight_decay})")
        p.check(
            len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
            f"betas: must be two numbers in [0, 1) (got {list(self.betas)})",
        )
        p.check(self.eps > 0, f"eps: must be > 0 (got {self.eps})")
        p.check(self.max_grad_norm >= 0, f"max_grad_norm: must be >= 0 (got {self.max_grad_norm})")
        p.raise_if_any()


@dataclass(frozen=True)
class FormatConfig:
    """How a canonical record becomes a chat: prompt, operations, length."""

    system_prompt: str | None = None
    """System prompt; None builds one that lists ``operations``."""
    operations: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_OPERATIONS))
    """Operation name -> description, listed in the default system prompt."""
    think_action: str = "THINK"
    """The action whose steps are reasoning text (rendered in <think>, not as tool calls)."""
    zoom_action: str = "ZOOM_IN"
    """The action whose observation is a crop of the source image to parameters.bbox (VL models)."""
    max_length: int = 2048
    """Longest token sequence; longer samples are cut at the end (never inside an image) and counted."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(self.max_length >= 16, f"max_length: must be >= 16 (got {self.max_length})")
        p.check(bool(self.think_action), "think_action: must not be empty")
        p.check(bool(self.zoom_action), "zoom_action: must not be empty")
        p.raise_if_any()


@dataclass(frozen=True)
class TrainDataConfig:
    """The ``data:`` section of TrainConfig: where the training data comes from and how it is streamed.

    (Not ``pixelis_data.config.DataConfig``, the data side's whole config for score / split.)
    """

    image_root: str | None = None
    """Directory relative image paths are resolved against; None: the working directory."""
    skip_bad_samples: bool = False
    """Skip (and count) samples whose images are missing or unreadable instead of stopping the run."""
    stream_mode: StreamMode = "stratified"
    """Per-category counts of each batch: largest remainder (exact mix) or multinomial."""
    format: FormatConfig = field(default_factory=FormatConfig)
    """Chat formatting."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(self.image_root is None or bool(self.image_root.strip()), "image_root: must not be empty")
        p.literals(self)
        p.raise_if_any()


@dataclass(frozen=True)
class EvalConfig:
    """Per-category evaluation on eval.arrow and early stopping.

    There is no interval here: evaluation runs every ``curriculum.eval_interval`` steps, the cadence of
    the policy's decisions (each evaluation is one decision), so the two cannot drift apart. The metric
    is ``curriculum.metric``: the same number drives the policy and early stopping. Answer accuracy by
    generation is not a curriculum metric: it is computed at some evaluations only (``answer_every``).
    """

    max_per_category: int = 32
    """Eval samples per category used at each evaluation (the first ones of eval.arrow; 0 = all)."""
    batch_size: int = 4
    """Samples per forward pass during evaluation."""
    early_stopping_patience: int = 0
    """Stop after this many evaluations without improvement of the overall metric (0 = never)."""
    early_stopping_min_delta: float = 0.0
    """An improvement must exceed this to reset the patience counter."""
    answer_every: int = 0
    """Greedy-decode the answers (answer accuracy) at every N-th evaluation; 0 = only at the run's last one."""
    answer_max_new_tokens: int = 32
    """Most tokens generated per answer (generation also stops at </answer>, <|im_end|> and eos)."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(self.max_per_category >= 0, f"max_per_category: must be >= 0 (got {self.max_per_category})")
        p.check(self.batch_size >= 1, f"batch_size: must be >= 1 (got {self.batch_size})")
        p.check(
            self.early_stopping_patience >= 0,
            f"early_stopping_patience: must be >= 0 (got {self.early_stopping_patience})",
        )
        p.check(
            self.early_stopping_min_delta >= 0,
            f"early_stopping_min_delta: must be >= 0 (got {self.early_stopping_min_delta})",
        )
        p.integer("answer_every", self.answer_every, 0)
        p.integer("answer_max_new_tokens", self.answer_max_new_tokens, 1)
        p.raise_if_any()


@dataclass(frozen=True)
class LoggingConfig:
    """Where metrics go: metrics.jsonl always, a rich live display, optionally wandb / TensorBoard."""

    every: int = 10
    """Optimizer steps between log lines."""
    log_to: tuple[str, ...] = ()
    """Extra sinks: 'wandb' and/or 'tensorboard' (must be installed)."""
    live: bool = True
    """Show a rich live display in the terminal."""
    project: str = "pixelis"
    """wandb project name."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(self.every >= 1, f"every: must be >= 1 (got {self.every})")
        for target in self.log_to:
            p.check(target in LOG_TARGETS, f"log_to: unknown sink {target!r} (known: {', '.join(LOG_TARGETS)})")
        p.raise_if_any()


@dataclass(frozen=True)
class CheckpointConfig:
    """Checkpoint cadence and retention."""

    save_interval: int = 500
    """Optimizer steps between checkpoints (one is also written at the end and on SIGTERM/SIGINT)."""
    keep_last: int = 3
    """Checkpoints kept on disk (older ones are deleted after a new one is complete)."""
    average_last: int = 0
    """Average the LoRA weights of the last K checkpoints into ``adapter-averaged`` (0 = off)."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(self.save_interval >= 1, f"save_interval: must be >= 1 (got {self.save_interval})")
        p.check(self.keep_last >= 1, f"keep_last: must be >= 1 (got {self.keep_last})")
        p.check(self.average_last >= 0, f"average_last: must be >= 0 (got {self.average_last})")
        p.check(
            self.average_last <= self.keep_last,
            f"average_last: cannot exceed keep_last (got {self.average_last} > {self.keep_last})",
        )
        p.raise_if_any()


DistStrategy = Literal["auto", "ddp", "fsdp"]
"""How a multi-process run shares the model (see ``DistributedConfig.strategy``)."""
DistBackend = Literal["auto", "nccl", "gloo"]
"""The torch.distributed process-group backends offered."""
DIST_STRATEGIES: tuple[str, ...] = get_args(DistStrategy)
DIST_BACKENDS: tuple[str, ...] = get_args(DistBackend)


@dataclass(frozen=True)
class DistributedConfig:
    """Multi-process training under ``torchrun`` (rank and world size come from its environment)."""

    strategy: DistStrategy = "auto"
    """'ddp' (replicated model), 'fsdp' (FSDP2 fully_shard per decoder layer, for models that do not fit
    one GPU) or 'auto' (ddp); ignored with a single process."""
    backend: DistBackend = "auto"
    """Process-group backend; 'auto' is nccl on GPUs and gloo on CPU."""
    timeout_s: int = 600
    """Seconds any collective may wait for the other ranks before the job fails (instead of hanging)."""

    def __post_init__(self) -> None:
        p = Problems()
        p.literals(self)
        p.integer("timeout_s", self.timeout_s, 1)
        p.raise_if_any()


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``pixelis train`` reads from ``--config``."""

    seed: int = 0
    """Seeds the stream, LoRA initialisation and dropout."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Base model."""
    lora: LoraConfig = field(default_factory=LoraConfig)
    """LoRA adapter."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimisation."""
    data: TrainDataConfig = field(default_factory=TrainDataConfig)
    """Data, stream and formatting."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Evaluation and early stopping."""
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    """Curriculum stages and policy (the same shape as configs/curriculum.yaml)."""
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    """Logging."""
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    """Checkpointing."""
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    """Multi-process (torchrun) training."""

    def __post_init__(self) -> None:
        p = Problems()
        p.check(self.seed >= 0, f"seed: must be >= 0 (got {self.seed})")
        p.raise_if_any()
