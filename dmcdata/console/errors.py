"""The console's exception: bad parameters or bad audio, named clearly before any DSP runs."""

from __future__ import annotations


class ConsoleError(ValueError):
    """A parameter, an audio buffer or an impulse response the console cannot use.

    The message names the parameter / track / file and what is wrong with it.
    """
