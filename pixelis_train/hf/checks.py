"""Bad uses of the Trainer integration, caught before the first step with a one-line message."""

from __future__ import annotations

from typing import Any

from pixelis_core.text import plural
from pixelis_train.hf.collator import REMOVED_COLUMNS_HINT


class HFSetupError(ValueError):
    """TrainingArguments (or a Trainer) the curriculum cannot train with exactly."""


def batch_geometry(args: Any, global_batch: int | None) -> tuple[int, int, int, int]:
    """(global batch, micro-batch, world size, rank) from ``args``; a global batch that the world size
    does not divide, or that disagrees with per-device batch x accumulation x world size, is an error."""
    micro, accum = int(args.per_device_train_batch_size), int(args.gradient_accumulation_steps)
    world, rank = int(args.world_size), int(args.process_index)
    per_pass = micro * accum * world
    if global_batch is None:
        return per_pass, micro, world, rank
    if global_batch % world:
        raise HFSetupError(
            f"global_batch: {global_batch} is not divisible by the world size {world}: every rank trains an "
            f"equal slice of the same global batch (use a multiple of {world}, or another number of processes)"
        )
    if global_batch != per_pass:
        raise HFSetupError(
            f"global_batch: {global_batch} over {plural(world, 'rank')} is {global_batch // world} samples per rank, "
            "but "
            f"per_device_train_batch_size x gradient_accumulation_steps = {micro} x {accum} = {micro * accum}"
        )
    return global_batch, micro, world, rank


def argument_problems(args: Any, micro: int, world: int, global_batch: int) -> list[str]:
    """Every reason ``args`` cannot train the curriculum's stream as planned."""
    problems = []
    if args.remove_unused_columns:
        problems.append(REMOVED_COLUMNS_HINT)
    if args.max_steps is None or args.max_steps <= 0:
        problems.append(
            f"max_steps: must be > 0 (got {args.max_steps}); the curriculum stream has no epochs to count, "
            "and the Trainer sees one optimizer step per pass over it"
        )
    if args.dataloader_num_workers:
        problems.append(
            f"dataloader_num_workers: must be 0 (got {args.dataloader_num_workers}); the stream plans each step "
            "in the main process right after the previous step's curriculum decision"
        )
    if args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size != global_batch:
        problems.append(
            "per_device_train_batch_size x gradient_accumulation_steps x world_size = "
            f"{args.per_device_train_batch_size} x {args.gradient_accumulation_steps} x {args.world_size} "
            f"is not the curriculum's global batch {global_batch}"
            f" (micro-batch {micro}, world size {world}): build the curriculum from these TrainingArguments"
        )
    if getattr(args, "restore_callback_states_from_checkpoint", False):
        problems.append(
            "restore_callback_states_from_checkpoint: must be False; the pixelis callback restores its own state"
        )
    config = getattr(args, "accelerator_config", None)
    if getattr(config, "split_batches", False):
        problems.append("accelerator_config.split_batches: must be False (each rank gets whole micro-batches)")
    if getattr(config, "dispatch_batches", None) and world > 1:
        problems.append(
            "accelerator_config.dispatch_batches: must be False or unset (each rank formats its own micro-batches; "
            "dispatching concatenates batches of different lengths)"
        )
    return problems


def check_arguments(args: Any, micro: int, world: int, global_batch: int) -> None:
    """Raise :class:`HFSetupError` naming every problem of ``args``."""
    problems = argument_problems(args, micro, world, global_batch)
    if problems:
        raise HFSetupError("TrainingArguments: " + "; ".join(problems))


def use_per_rank_batches(trainer: Any) -> None:
    """Make accelerate give every rank its own slice (``dispatch_batches=False``) when left unset.

    Unset, accelerate dispatches an iterable dataset's batches from rank 0, which concatenates the ranks'
    micro-batches and so fails on different padded lengths. ``check_arguments`` refuses an explicit True.
    """
    config = getattr(trainer.args, "accelerator_config", None)
    if config is not None and getattr(config, "dispatch_batches", None) is None:
        config.dispatch_batches = False
    dataloader_config = getattr(getattr(trainer, "accelerator", None), "dataloader_config", None)
    if dataloader_config is not None and dataloader_config.dispatch_batches is None:
        dataloader_config.dispatch_batches = False
