"""The one compiled piece of pixelis: the plain-record parser (pixelis_data/readers/_fastparse.c).

Everything else is in pyproject.toml. The extension is optional: where it cannot be compiled (no C
compiler, no Python headers), pip installs pixelis without it and every record takes the engine path
(readers/engine.py), which gives the same rows, only slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pixelis_data.readers._fastparse",
            ["pixelis_data/readers/_fastparse.c"],
            extra_compile_args=["-O3", "-std=c99", "-Wall", "-Wextra"],
            optional=True,
        )
    ]
)
