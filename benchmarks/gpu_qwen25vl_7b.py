"""LoRA SFT throughput of the real Qwen2.5-VL-7B architecture on one GPU (random weights, no download).

Builds Qwen2.5-VL-7B-Instruct's architecture from its published config values with random bf16 weights
directly on the GPU, wraps it with pixelis's LoRA setup (docs/design.md §8: r=32, alpha=64, attention + MLP
projections of the language model, vision tower frozen), and runs the training step of
``pixelis_train.loop`` (fp32 loss over assistant tokens, bf16 autocast, fused AdamW, clipping) at
micro-batch 4 x accumulation 4 on synthetic CoTA-shaped samples: a 448x448 image (256 image tokens),
a ZOOM_IN crop (64 image tokens), and text, of which the last 60% is trained.

Reports samples/s, samples/minute, tokens/s and peak GPU memory (the original project reported about
100 samples/minute and 35 GB on an A100). ``--smoke`` runs the same code path with a scaled-down
config on the CPU, to check the script where no GPU is available.

    .venv/bin/python benchmarks/gpu_qwen25vl_7b.py [--steps 10] [--seq-len 1024] [--gradient-checkpointing]

Several GPUs (docs/distributed.md): the same step under DDP or FSDP2, per-rank micro-batches, the loss
normalised by the all-reduced trained-token count; samples/s are for the whole job.

    torchrun --standalone --nproc_per_node N benchmarks/gpu_qwen25vl_7b.py --distributed ddp|fsdp
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from pixelis_train import distributed
from pixelis_train.batch import model_inputs, token_stats
from pixelis_train.chat import IGNORE_INDEX
from pixelis_train.config import DistributedConfig, LoraConfig, ModelConfig
from pixelis_train.models import LoadedModel, add_lora, trainable_summary

IMAGE_TOKEN, VIDEO_TOKEN, VISION_START, VISION_END = 151655, 151656, 151652, 151653

# Qwen/Qwen2.5-VL-7B-Instruct config.json values.
TEXT_7B = {
    "vocab_size": 152064,
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "max_position_embeddings": 128000,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1000000.0},
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "tie_word_embeddings": False,
}
VISION_7B = {
    "depth": 32,
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "out_hidden_size": 3584,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31],
    "hidden_act": "silu",
    "tokens_per_second": 2,
}
# Same structure, tiny sizes: for --smoke on a CPU.
TEXT_SMOKE = {
    **TEXT_7B,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "rope_parameters": {"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 1e6},
}
VISION_SMOKE = {
    **VISION_7B,
    "depth": 2,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_heads": 2,
    "out_hidden_size": 64,
    "fullatt_block_indexes": [1],
}


def synthetic_sample(seq_len: int, generator: torch.Generator, vocab: int) -> dict:
    """One sample: [image 448x448][crop 224x224] + random text up to seq_len; the last 60% is trained."""
    grids = [(1, 32, 32), (1, 16, 16)]  # patch grids (14 px patches) of a 448 and a 224 image
    image_tokens = [t * h * w // 4 for t, h, w in grids]
    ids: list[int] = []
    for n in image_tokens:
        ids += [VISION_START] + [IMAGE_TOKEN] * n + [VISION_END]
    n_text = seq_len - len(ids)
    if n_text < 16:
        raise ValueError(f"--seq-len {seq_len} leaves no room for text after {len(ids)} image tokens")
    ids += torch.randint(0, min(vocab, 151000), (n_text,), generator=generator).tolist()
    labels = [IGNORE_INDEX] * len(ids)
    start = len(ids) - int(0.6 * n_text)
    labels[start:] = ids[start:]
    patches = sum(t * h * w for t, h, w in grids)
    return {
        "ids": ids,
        "labels": labels,
        "pixels": torch.randn(patches, 3 * 2 * 14 * 14, generator=generator),
        "grids": grids,
    }


def make_batch(samples: list[dict]) -> dict:
    return {
        "input_ids": torch.tensor([s["ids"] for s in samples]),
        "attention_mask": torch.ones(len(samples), len(samples[0]["ids"]), dtype=torch.long),
        "labels": torch.tensor([s["labels"] for s in samples]),
        "pixel_values": torch.cat([s["pixels"] for s in samples]),
        "image_grid_thw": torch.tensor([g for s in samples for g in s["grids"]]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps (after 2 warm-up steps)")
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--grad-accum", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=1024, help="tokens per sample (images included)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny config on CPU: checks the script only")
    parser.add_argument(
        "--distributed", choices=["ddp", "fsdp"], default="ddp", help="strategy under torchrun (WORLD_SIZE > 1)"
    )
    args = parser.parse_args()
    with distributed.session(DistributedConfig(strategy=args.distributed)) as ctx:
        run(args, ctx)


def run(args: argparse.Namespace, ctx: distributed.DistContext) -> None:
    if not args.smoke and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run on a GPU machine, or pass --smoke to check the script on a CPU")
    device = torch.device("cpu") if args.smoke else ctx.device
    dtype = torch.float32 if args.smoke else torch.bfloat16
    config = Qwen2_5_VLConfig(
        text_config=TEXT_SMOKE if args.smoke else TEXT_7B,
        vision_config=VISION_SMOKE if args.smoke else VISION_7B,
        image_token_id=IMAGE_TOKEN,
        video_token_id=VIDEO_TOKEN,
        vision_start_token_id=VISION_START,
        vision_end_token_id=VISION_END,
    )
    torch.manual_seed(0)
    t0 = time.perf_counter()
    with torch.device(device):
        base = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype, attn_implementation="sdpa")
    build_s = time.perf_counter() - t0
    model_cfg = ModelConfig(gradient_checkpointing=args.gradient_checkpointing)
    # image_processor only marks the model as VL (so the vision tower is excluded from LoRA); no images
    # are processed here, the pixel patches are synthetic.
    model = add_lora(LoadedModel(base, None, image_processor="synthetic", source="random"), LoraConfig(), model_cfg)
    n_trainable, n_total = trainable_summary(model)
    model = distributed.wrap(model, ctx)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=2e-4, fused=device.type == "cuda")

    def autocast():
        return (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if device.type == "cuda"
            else torch.autocast("cpu", enabled=False)
        )

    generator = torch.Generator().manual_seed(ctx.rank)
    vocab = config.text_config.vocab_size
    n_samples_step = args.micro_batch * args.grad_accum * ctx.world_size

    def step() -> int:
        micro = [
            make_batch([synthetic_sample(args.seq_len, generator, vocab) for _ in range(args.micro_batch)])
            for _ in range(args.grad_accum)
        ]
        local = [sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in micro)]
        local.append(sum(int(b["attention_mask"].sum()) for b in micro))
        n_target, n_tokens = ctx.all_sum(local)
        for i, batch in enumerate(micro):
            with distributed.grad_sync(model, ctx, sync=i == len(micro) - 1):
                with autocast():
                    logits = model(**model_inputs(batch, device)).logits
                stats = token_stats(logits, batch["labels"])
                (stats.loss_sum * ctx.world_size / n_target).backward()
        distributed.clip_grad_norm(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return int(n_tokens)

    model.train()
    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    tokens = 0
    t0 = time.perf_counter()
    for _ in range(args.steps):
        tokens += step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    samples = args.steps * n_samples_step
    result = {
        "architecture": "Qwen2.5-VL-7B (random weights)" if not args.smoke else "Qwen2.5-VL smoke config",
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "params_total": n_total,
        "params_trainable": n_trainable,
        "build_s": round(build_s, 1),
        "micro_batch": args.micro_batch,
        "grad_accum": args.grad_accum,
        "seq_len": args.seq_len,
        "gradient_checkpointing": args.gradient_checkpointing,
        "world_size": ctx.world_size,
        "strategy": ctx.strategy,
        "timed_steps": args.steps,
        "samples_per_s": samples / seconds,
        "samples_per_min": 60 * samples / seconds,
        "tokens_per_s": tokens / seconds,
        "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else math.nan,
    }
    if ctx.is_main:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
