"""Per-byte work shared by the device model and the stack, with a C core and a Python twin.

``IXSIM_PURE=1`` forces the pure-Python twins; ``IMPLEMENTATION`` says which one is in use.
Both device/ and stack/ import from here, so neither has to import the other.
"""

from __future__ import annotations

from fastpath._pure import csum_fold, csum_partial, csum_replace2, internet_checksum

IMPLEMENTATION = "python"

__all__ = ["IMPLEMENTATION", "csum_fold", "csum_partial", "csum_replace2", "internet_checksum"]
