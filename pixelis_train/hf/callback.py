"""``CurriculumCallback``: per-category evaluation every ``eval_interval`` steps, the policy's decision,
the new stream weights from the very next optimizer step, ``curriculum/*`` metrics through ``trainer.log``,
and the curriculum state in the Trainer's checkpoints.

Order inside the Trainer (transformers 5): step s's optimizer step -> ``global_step = s`` ->
``on_step_end`` (here: evaluate, decide, ``stream.set_weights``, ``trainer.log``) -> the Trainer's own
logging and checkpoint (``state()`` is saved with it, after the decision) -> the next pass over the
dataloader plans step index s, which is the (s + 1)-th step, with the new weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pixelis_train._deps import require
from pixelis_train.curriculum.policy import Evaluation
from pixelis_train.evaluate import CategoryMetrics, evaluate
from pixelis_train.hf.dataset import StepOrderError
from pixelis_train.hf.state import payload, restored, saved_payload

if TYPE_CHECKING:
    from pixelis_train.hf.curriculum import PixelisCurriculum

torch = require("torch")
transformers = require("transformers")


def _all_sum(device: Any) -> Callable[[list[float]], list[float]]:
    """Sums over ranks when a process group is up (DDP), else the identity."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return list

    def all_sum(values: list[float]) -> list[float]:
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    return all_sum


def log_numbers(event_metrics: dict[str, Any], metrics: dict[str, CategoryMetrics], skipped: int) -> dict[str, float]:
    """What goes to ``trainer.log``: the event's ``curriculum/*`` numbers (the names ``pixelis train`` logs;
    its text fields stay in the saved events), ``eval/<category>/<field>`` and the skipped-sample count."""
    logs = {k: float(v) for k, v in event_metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for category, m in metrics.items():
        for name, value in m.as_dict().items():
            # the quality numbers; the counts (n_samples, n_tokens, ...) do not change between evaluations
            if not name.startswith("n_") and isinstance(value, (int, float)) and not isinstance(value, bool):
                logs[f"eval/{category}/{name}"] = float(value)
    logs["skipped_samples"] = float(skipped)
    return logs


class CurriculumCallback(transformers.TrainerCallback, transformers.trainer_callback.ExportableState):
    """The curriculum side of a Trainer run; added by :meth:`PixelisCurriculum.attach`."""

    def __init__(self, curriculum: PixelisCurriculum) -> None:
        self.curriculum = curriculum
        self.trainer: Any = None
        """The Trainer whose ``log`` carries the metrics (set by ``attach``)."""

    def state(self) -> dict[str, Any]:
        cur = self.curriculum
        data = payload(cur.trained_steps, cur.progress, cur.stream.state_dict(), cur.collator.stats)
        return {"args": {}, "attributes": {"pixelis": data}}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        cur = self.curriculum
        cur.check_arguments(args)
        if state.global_step > 0:  # resume_from_checkpoint: TrainerState was loaded from trainer_state.json
            data = saved_payload(state.stateful_callbacks, state.global_step)
            cur.stream.load_state_dict(data["stream"])
            cur.progress, cur.collator.stats = restored(data)
        elif cur.stream.step != 0:
            raise StepOrderError("a PixelisCurriculum trains one run: build a new one for another trainer.train()")
        cur.planner.reset()
        cur.planner.trainer_state = state
        cur.trained_steps = state.global_step

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        cur = self.curriculum
        step = cur.trained_steps = state.global_step
        if step % cur.cfg.eval_interval != 0:
            return
        if cur.stream.step != step:  # a plan made ahead would train with the old weights
            raise StepOrderError(
                f"the pixelis stream planned step {cur.stream.step} before the decision after step {step}"
            )
        metrics = self._evaluate(args, model)
        performance = {c: m.metric(cur.cfg.metric) for c, m in metrics.items()}
        cur.progress.curriculum, event = cur.policy.decide(
            cur.progress.curriculum, Evaluation(step=step, performance=performance)
        )
        cur.stream.set_weights(cur.policy.weights(cur.progress.curriculum))
        if event.kind != "hold":
            cur.progress.events.append(event)
        cur.decisions.append(event)
        if self.trainer is not None:
            # trainer.log resets should_log; keep the Trainer's own loss line of this step
            should_log = control.should_log
            self.trainer.log(log_numbers(event.metrics(), metrics, cur.collator.stats.skipped))
            control.should_log = should_log

    def _evaluate(self, args: Any, model: Any) -> dict[str, CategoryMetrics]:
        cur = self.curriculum
        device = args.device
        bf16 = bool(getattr(args, "bf16", False)) and device.type == "cuda"
        autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
        return evaluate(
            model,
            cur.eval_sets,
            cur.pad_id,
            device,
            cur.eval_cfg.batch_size,
            autocast,
            rank=args.process_index,
            world_size=args.world_size,
            all_sum=_all_sum(device),
        )
