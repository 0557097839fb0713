"""ixsim: an emulated ixgb 10 GbE NIC, its driver and a TCP/IP stack, on virtual time.

``from ixsim import World`` is the entry point (see README.md and docs/design.md).
"""

from __future__ import annotations

from typing import Any

__all__ = ["World", "Deadlock"]


def __getattr__(name: str) -> Any:
    # Lazy, so that ``python -m ixsim`` and the CLI's verb modules import only what they use.
    if name in __all__:
        from ixsim import world

        return getattr(world, name)
    raise AttributeError(f"module 'ixsim' has no attribute {name!r}")
