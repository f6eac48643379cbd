"""Data behind ``pixelis report`` and ``pixelis explain``: views of scores and splits, figures, HTML.

The run report (a training concept) lives in ``pixelis_train.report`` and uses the HTML and figure
plumbing here.

Torch-free; matplotlib (the ``report`` extra) is imported only when a figure is drawn.
"""

from pixelis_data.report.build import ReportResult, build_report, default_report_path, figures_dir_for, write_report
from pixelis_data.report.figures import INSTALL_HINT, ReportDependencyError
from pixelis_data.report.inputs import ReportInputError, detect_kind

__all__ = [
    "INSTALL_HINT",
    "ReportDependencyError",
    "ReportInputError",
    "ReportResult",
    "build_report",
    "default_report_path",
    "detect_kind",
    "figures_dir_for",
    "write_report",
]
