"""Examples that are code: ``examples.minidriver`` (a small ixgb driver to read and copy).

Run from the repository root so ``examples`` is importable (``python -m ixsim ...`` puts the
current directory first), e.g. ``python -m ixsim drivertest --driver examples.minidriver``.
"""
