"""Build hook for fastpath's optional C core; the project's metadata is in pyproject.toml.

``cffi_modules`` makes setuptools compile ``fastpath/_build.py:ffibuilder`` (cffi, API mode)
into ``fastpath._cext`` during ``pip install .`` and ``pip install -e .``.  The C core is an
accelerator, not a requirement: when the compiler is missing or fails, ``build_ext`` says so
and the installation goes on without it (``fastpath`` then uses its pure-Python twins and
reports ``IMPLEMENTATION == "python"``).
"""

from __future__ import annotations

import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

_BUILD_ERRORS = (CCompilerError, ExecError, PlatformError, OSError)


class optional_build_ext(build_ext):
    """build_ext whose extensions may fail to build (no compiler, or a broken one)."""

    def finalize_options(self) -> None:
        super().finalize_options()
        for ext in self.extensions:
            ext.optional = True  # setuptools then skips the missing file when copying in place

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except _BUILD_ERRORS as err:
            print(f"WARNING: the C extension {ext.name} was not built ({err}); ixsim is "
                  "installed without it and uses its pure-Python twins (slower, same "
                  "results)", file=sys.stderr)


setup(
    cffi_modules=["fastpath/_build.py:ffibuilder"],
    cmdclass={"build_ext": optional_build_ext},
)
