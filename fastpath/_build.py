"""cffi builder (API mode) for the C core, ``fastpath._cext``, from ``fastpath/_core.c``.

Run by the package's own build: ``setup.py`` names it in ``cffi_modules``, so
``pip install .`` and ``pip install -e .`` compile it (setup.py lets the install go on
without it when no compiler works; the pure-Python twins are used then).  cffi executes this
file on its own, not as part of the package, so it imports nothing of ours.

The module carries a digest of this file and of ``_core.c`` (``ix_source_digest``):
``fastpath/_c.py`` refuses an extension built from other sources than those beside it, so a
stale build is never used silently.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
MODULE = "fastpath._cext"

CDEF = """
uint32_t ix_csum_partial(const char *data, size_t len, uint64_t initial);
uint32_t ix_csum_fold(uint64_t total);
uint32_t ix_internet_checksum(const char *data, size_t len, uint64_t initial);
uint32_t ix_csum_replace2(int64_t check, int64_t old, uint64_t new_);
uint32_t ix_csum_copy(char *dst, size_t dst_off, const char *src, size_t len,
                      uint64_t initial);
long ix_tso_segment(const char *packet, size_t pkt_len, size_t l3, size_t l4, size_t hdr_len,
                    size_t mss, long ip_id_start, int tcp, int ipv6, long ipcso,
                    size_t ip_end, long tucso, char *out, size_t out_len);
const char *ix_source_digest(void);
"""


def source_digest(folder: Path = HERE) -> str:
    """The digest of the sources the extension is built from (fastpath/_c.py has a twin)."""
    h = hashlib.sha256()
    for name in ("_build.py", "_core.c"):
        h.update((folder / name).read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:32]


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    MODULE,
    (HERE / "_core.c").read_text(encoding="utf-8")
    + f'\nconst char *ix_source_digest(void) {{ return "{source_digest()}"; }}\n',
    extra_compile_args=[] if sys.platform == "win32" else ["-O3"],
)
