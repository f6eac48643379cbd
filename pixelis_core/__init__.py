"""Plumbing both pixelis packages share: configs <-> YAML, atomic writes and their errors, process lifetime,
message words, JSON safety.

Imports neither ``pixelis_data`` nor ``pixelis_train``; both may import it.
"""
