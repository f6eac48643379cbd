"""Model-based difficulty: per-sample losses of a (trained) model on every sample (docs/model_score.md).

A stage of its own, one concept per module:

- ``inputs``: a split directory or a records file -> one table of samples in a fixed order;
- ``packing``: batches packed by length under a token budget (torch-free);
- ``scoring``: per-token losses of a batch, and a sample's model_loss / answer_loss / ifd / n_tokens;
- ``shards``: resumable shard files, their meta.json, and the merge into the output (``OUTPUT_SCHEMA``);
- ``loading``: the model and adapter, loaded exactly as ``pixelis train`` loads them;
- ``run``: one job (``ModelScoreJob`` -> ``run_model_score``), on one process or each rank of torchrun.

Importing this package does not import torch; ``scoring``, ``loading`` and ``run`` do.
"""
