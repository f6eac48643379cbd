"""pixelis training plugin: curriculum policy, curriculum stream, chat formatting, LoRA SFT loop.

Importing this package does not import torch; the modules that need it (model, loop, torch data wrapper)
raise an install hint (``pip install 'pixelis[train]'``) when it is missing.
"""
