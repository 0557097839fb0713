"""The C core behind the pure twins' signatures: loads ``fastpath._cext`` and wraps it.

Importing this module raises ImportError, with the reason, when no usable extension exists;
:mod:`fastpath` then uses :mod:`fastpath._pure`.  Every function returns what its pure twin
returns for the same arguments, errors included: the wrappers hand anything the C types
cannot carry (a negative or over-64-bit int, a buffer of items wider than a byte, a
non-contiguous view, a list) to the twin, and check ``tso_segment``'s offsets with the twin's
own ``tso_args`` before any C code runs.

Where the extension comes from, in order:

1. ``fastpath/_cext*.so`` beside this file (``pip install -e .``, or an installed package);
2. else the one a ``pip install .`` put in site-packages, when this file runs from a source
   tree (``python -m pytest`` in a checkout imports the tree's ``fastpath``, whose folder
   has no extension).

Either is used only if it was built from the very sources beside this file (the digest that
``fastpath/_build.py`` compiles in): an extension left over from older sources is refused,
never used silently.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from fastpath import _pure

HERE = Path(__file__).resolve().parent
_NAME = "fastpath._cext"


def _source_digest(folder: Path) -> str | None:
    """Twin of ``fastpath._build.source_digest`` (which needs cffi's builder to import)."""
    h = hashlib.sha256()
    try:
        for name in ("_build.py", "_core.c"):
            h.update((folder / name).read_bytes())
            h.update(b"\0")
    except OSError:
        return None  # an installation without the sources: nothing to compare with
    return h.hexdigest()[:32]


def _elsewhere() -> list[Path]:
    """``fastpath/_cext`` extension files for this interpreter elsewhere on ``sys.path``."""
    found = []
    for entry in sys.path:
        folder = Path(entry or ".").resolve() / "fastpath"
        if folder == HERE or not folder.is_dir():
            continue
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = folder / ("_cext" + suffix)
            if path.is_file():
                found.append(path)
    return found


def _load() -> tuple[ModuleType, str]:
    want = _source_digest(HERE)
    refused = []

    def usable(mod: ModuleType, where: str) -> bool:
        try:
            got = mod.ffi.string(mod.lib.ix_source_digest()).decode()
        except AttributeError:  # an extension older than the digest itself
            got = "none"
        if want is None or got == want:
            return True
        refused.append(f"{where} was built from other sources (digest {got}, the sources "
                       f"beside {HERE} give {want})")
        return False

    try:
        mod = importlib.import_module(_NAME)
    except ImportError as err:
        if not (isinstance(err, ModuleNotFoundError) and err.name == _NAME):
            refused.append(f"{_NAME} does not load: {err}")
    else:
        if usable(mod, str(mod.__file__)):
            return mod, str(mod.__file__)
    for path in _elsewhere():
        spec = importlib.util.spec_from_file_location(_NAME, path)
        if spec is None or spec.loader is None:
            continue
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except ImportError as err:
            refused.append(f"{path} does not load: {err}")
            continue
        if usable(mod, str(path)):
            return mod, str(path)
    reason = "; ".join(refused) or (
        f"the C core is not built ({_NAME} not found beside {HERE} nor on sys.path)")
    raise ImportError(reason + "; rebuild with `pip install .` or `pip install -e .` with a C "
                      "compiler present", name=__name__)


_mod, ORIGIN = _load()
_ffi = _mod.ffi
_lib = _mod.lib
_from_buffer = _ffi.from_buffer
_alloc = _ffi.new_allocator(should_clear_after_alloc=False)
_buffer = _ffi.buffer
_c_partial = _lib.ix_csum_partial
_c_fold = _lib.ix_csum_fold
_c_inet = _lib.ix_internet_checksum
_c_replace2 = _lib.ix_csum_replace2
_c_copy = _lib.ix_csum_copy
_c_tso = _lib.ix_tso_segment
_FALLBACK = (TypeError, OverflowError, BufferError, ValueError)
_Buffer = bytes | bytearray | memoryview


def csum_partial(data: _Buffer, initial: int = 0) -> int:
    """C twin of :func:`fastpath._pure.csum_partial`."""
    n = len(data)
    try:
        if type(data) is bytes:
            return _c_partial(data, n, initial)
        if type(data) is bytearray or (type(data) is memoryview and data.nbytes == n):
            return _c_partial(_from_buffer(data), n, initial)
    except _FALLBACK:
        pass
    return _pure.csum_partial(data, initial)


def internet_checksum(data: _Buffer, initial: int = 0) -> int:
    """C twin of :func:`fastpath._pure.internet_checksum`."""
    n = len(data)
    try:
        if type(data) is bytes:
            return _c_inet(data, n, initial)
        if type(data) is bytearray or (type(data) is memoryview and data.nbytes == n):
            return _c_inet(_from_buffer(data), n, initial)
    except _FALLBACK:
        pass
    return _pure.internet_checksum(data, initial)


def csum_fold(total: int) -> int:
    """C twin of :func:`fastpath._pure.csum_fold`."""
    try:
        return _c_fold(total)
    except _FALLBACK:
        return _pure.csum_fold(total)


def csum_replace2(check: int, old: int, new: int) -> int:
    """C twin of :func:`fastpath._pure.csum_replace2`."""
    try:
        return _c_replace2(check, old, new)
    except _FALLBACK:
        return _pure.csum_replace2(check, old, new)


def csum_copy(dst: bytearray | memoryview, dst_off: int, src: _Buffer, initial: int = 0) -> int:
    """C twin of :func:`fastpath._pure.csum_copy`."""
    n = len(src)
    if (type(dst) is bytearray or (type(dst) is memoryview and dst.nbytes == len(dst))) and (
            type(src) is bytes or type(src) is bytearray
            or (type(src) is memoryview and src.nbytes == n)) and (
            type(dst_off) is int and 0 <= dst_off <= len(dst) - n):
        try:
            return _c_copy(_from_buffer(dst, require_writable=True), dst_off,
                           src if type(src) is bytes else _from_buffer(src), n, initial)
        except _FALLBACK:
            pass
    return _pure.csum_copy(dst, dst_off, src, initial)


def tso_segment(packet: _Buffer, l3_off: int, l4_off: int, hdr_len: int, mss: int,
                ip_id_start: int | None, is_tcp: bool, *, ipv6: bool = False,
                ip_csum: bool = True, ip_csum_off: int | None = None,
                ip_csum_end: int | None = None, l4_csum: bool = True,
                l4_csum_off: int | None = None) -> list[bytes]:
    """C twin of :func:`fastpath._pure.tso_segment`."""
    n = len(packet)
    if type(packet) is bytes:
        src = packet
    elif type(packet) is bytearray or (type(packet) is memoryview and packet.nbytes == n
                                       and packet.c_contiguous):
        src = _from_buffer(packet)
    else:
        src = None
    a = _pure.tso_args(n, l3_off, l4_off, hdr_len, mss, ip_id_start, is_tcp, ipv6, ip_csum,
                       ip_csum_off, ip_csum_end, l4_csum, l4_csum_off)
    if src is None:
        return _pure.tso_segment(packet, l3_off, l4_off, hdr_len, mss, ip_id_start, is_tcp,
                                 ipv6=ipv6, ip_csum=ip_csum, ip_csum_off=ip_csum_off,
                                 ip_csum_end=ip_csum_end, l4_csum=l4_csum,
                                 l4_csum_off=l4_csum_off)
    hdr_len, mss, nseg = a.hdr_len, a.mss, a.nseg
    size = nseg * hdr_len + n - hdr_len
    out = _alloc("char[]", size)
    got = _c_tso(src, n, a.l3_off, a.l4_off, hdr_len, mss, a.ip_id, a.is_tcp, a.ipv6,
                 a.ip_csum_off, a.ip_csum_end, a.l4_csum_off, out, size)
    if got != nseg:
        raise RuntimeError(f"tso_segment: the C core refused arguments tso_args accepted: {a}")
    frames = _buffer(out, size)
    stride = hdr_len + mss
    return [frames[i : i + stride] for i in range(0, size, stride)]
