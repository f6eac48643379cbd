"""Plumbing both pixelis packages share: frozen-dataclass configs <-> YAML, atomic writes, JSON safety.

Imports neither ``pixelis_data`` nor ``pixelis_train``; both may import it.
"""
