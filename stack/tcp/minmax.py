"""Windowed min/max filters: Kathleen Nichols' algorithm, as Linux's ``lib/win_minmax.c``.

Tracks the best, second-best and third-best samples of a window (in whatever unit ``t`` is:
BBR's bandwidth filter uses round-trip counts) in constant space and time per sample.
Contract: :meth:`running_max` takes ``(win, t, meas)`` and returns the windowed max;
:meth:`get` reads it; :meth:`reset` forgets everything but one sample.
"""

from __future__ import annotations


class Minmax:
    """``struct minmax``: three ``(t, v)`` samples, best first."""

    __slots__ = ("s",)

    def __init__(self, t: int = 0, meas: int = 0) -> None:
        self.s = [(t, meas)] * 3

    def get(self) -> int:
        """``minmax_get``."""
        return self.s[0][1]

    def reset(self, t: int, meas: int) -> int:
        """``minmax_reset``."""
        self.s = [(t, meas)] * 3
        return meas

    def _subwin_update(self, win: int, val: tuple[int, int]) -> int:
        """``minmax_subwin_update``: age the choices out of the window, or refresh the
        2nd/3rd choice from the later quarter/half of it."""
        s = self.s
        dt = val[0] - s[0][0]
        if dt > win:
            s[0], s[1], s[2] = s[1], s[2], val
            if val[0] - s[0][0] > win:
                s[0], s[1], s[2] = s[1], s[2], val
        elif s[1][0] == s[0][0] and dt > win // 4:
            s[1] = s[2] = val
        elif s[2][0] == s[1][0] and dt > win // 2:
            s[2] = val
        return s[0][1]

    def running_max(self, win: int, t: int, meas: int) -> int:
        """``minmax_running_max``: a new max, or a new 2nd/3rd choice, then age the window."""
        s = self.s
        val = (t, meas)
        if meas >= s[0][1] or t - s[2][0] > win:
            return self.reset(t, meas)
        if meas >= s[1][1]:
            s[1] = s[2] = val
        elif meas >= s[2][1]:
            s[2] = val
        return self._subwin_update(win, val)
