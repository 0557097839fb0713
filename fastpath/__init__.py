"""Per-byte work shared by the device model and the stack, with a C core and a Python twin.

The C core (``fastpath/_core.c``, built by cffi in API mode when the package is installed)
is used when it was built; otherwise, or with ``IXSIM_PURE=1`` in the environment, the
pure-Python twins of :mod:`fastpath._pure` are.  Both give the same result for every input.
``IMPLEMENTATION`` says which one is in use ("c" or "python"), ``PURE_REASON`` why the
twins are ("" with the C core).  Both device/ and stack/ import from here, so neither has to
import the other.

- ``csum_partial(data, initial=0)``: RFC 1071 one's-complement sum, folded to 16 bits, not
  complemented (Linux's ``csum_partial``);
- ``csum_fold(total)``: fold and complement (the value for a checksum field);
- ``internet_checksum(data, initial=0)``: ``csum_fold(csum_partial(data, initial))``;
- ``csum_replace2(check, old, new)``: incremental update (RFC 1624 eqn 3);
- ``csum_copy(dst, dst_off, src, initial=0)``: copy and sum in one pass
  (``csum_partial_copy_nocheck``);
- ``tso_segment(packet, l3_off, l4_off, hdr_len, mss, ip_id_start, is_tcp, ...)``: the
  NIC's TSO engine, a super-packet cut into finished frames.
"""

from __future__ import annotations

import os
from types import ModuleType

from fastpath import _pure


def _choose() -> tuple[ModuleType, str, str]:
    if os.environ.get("IXSIM_PURE", "") not in ("", "0"):
        return _pure, "python", "IXSIM_PURE is set"
    try:
        from fastpath import _c
    except ImportError as err:
        return _pure, "python", str(err)
    return _c, "c", ""


_impl, IMPLEMENTATION, PURE_REASON = _choose()

csum_partial = _impl.csum_partial
csum_fold = _impl.csum_fold
internet_checksum = _impl.internet_checksum
csum_replace2 = _impl.csum_replace2
csum_copy = _impl.csum_copy
tso_segment = _impl.tso_segment

__all__ = [
    "IMPLEMENTATION",
    "PURE_REASON",
    "csum_copy",
    "csum_fold",
    "csum_partial",
    "csum_replace2",
    "internet_checksum",
    "tso_segment",
]
