"""Real-I/O backends for a port: media that carry frames to and from the host machine.

The only part of ``device/`` allowed to touch file descriptors, sockets and the wall clock
(ruff's TID251 per-file-ignore in pyproject.toml; ``tests/test_layering.py`` exempts it).
Each backend implements the :class:`device.port.Medium` protocol, so a NIC's port takes it
exactly as it takes a :class:`device.cable.Cable`.
"""
