"""Synthetic CoTA data: ``pixelis generate``.

Samples in the ``pixelis`` input format covering every task type and sample type, with realistic
parameters, optional PNG images that really show what the questions ask about, and byte-identical
output for the same seed.

Modules: ``vocab`` (colours, shapes, words, mixes), ``scene`` (objects and layout), ``steps`` (one
constructor per action), ``tasks_*`` (one builder per task type), ``trajectories`` (sample-type shapes
and the sample record), ``images`` (PNG rendering), ``writer`` (files).
"""

from pixelis_data.generate.writer import TASKS, GenerateResult, generate_samples, output_format, write_samples

__all__ = ["TASKS", "GenerateResult", "generate_samples", "output_format", "write_samples"]
