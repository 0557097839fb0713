"""The ixgb NIC's NVM (EEPROM) image: its layout, its builder (ELF) and its loader.

Public API::

    build_words(mac, device_id=DEFAULT_DEVICE_ID, ...) -> list[int]  # 64 words, checksum set
    write_elf(words, path_or_file, version=None)                      # the ELF64 image file
    load_image(path, verify=True) -> EepromImage                      # raises FirmwareError
    load_words(path, verify=True) -> list[int]
    default_words(mac=None) -> list[int]                              # the shipped image's words
    DEFAULT_IMAGE                                                     # Path of ixgb-default.elf

The word map (indices, sizes, the checksum rule) is a hardware fact: :mod:`device.spec.eeprom`;
the default IDs are in :mod:`device.spec.ids`.
Spec: docs/hardware.md §1.4.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware.layout import checksum_ok, checksum_word, decode
from firmware.loader import EepromImage, FirmwareError, load_image, load_words

if TYPE_CHECKING:
    from firmware.builder import DEFAULT_MAC, build_words, set_mac, write_elf

# firmware.builder is imported on first use (PEP 562), not here: importing it with the
# package would make ``python -m firmware.builder`` warn that the module was already loaded.
_LAZY = {"DEFAULT_MAC", "build_words", "set_mac", "write_elf"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("firmware.builder"), name)
    raise AttributeError(f"module 'firmware' has no attribute {name!r}")

#: The image shipped as package data: MAC 02:00:00:00:00:01 and the default IDs (82597EX).
DEFAULT_IMAGE = Path(__file__).with_name("ixgb-default.elf")


@functools.cache
def _default_words() -> tuple[int, ...]:
    return tuple(load_words(DEFAULT_IMAGE))


def default_words(mac: bytes | str | None = None) -> list[int]:
    """A fresh copy of the default image's words; with ``mac``, that MAC and a fixed checksum.

    Each emulated host gets its own MAC this way while every other word stays the shipped one.
    """
    from firmware.builder import set_mac

    words = list(_default_words())
    return words if mac is None else set_mac(words, mac)


__all__ = [
    "DEFAULT_IMAGE",
    "DEFAULT_MAC",
    "EepromImage",
    "FirmwareError",
    "build_words",
    "checksum_ok",
    "checksum_word",
    "decode",
    "default_words",
    "load_image",
    "load_words",
    "set_mac",
    "write_elf",
]
