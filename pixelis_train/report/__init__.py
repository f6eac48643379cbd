"""The run report: a training run directory's ``metrics.jsonl`` -> a self-contained HTML page + PNG figures.

It is about stages, rollbacks and cooldowns, so it lives on the training side; it reuses the data
side's HTML and figure plumbing (``pixelis_data.report.html`` / ``figures``). Torch-free.
"""

from pixelis_train.report.section import build_report, build_run_report, detect_kind, is_run_dir, run_section
from pixelis_train.report.view import RunView, run_view

__all__ = ["RunView", "build_report", "build_run_report", "detect_kind", "is_run_dir", "run_section", "run_view"]
