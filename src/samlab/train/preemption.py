"""SIGTERM / SIGINT during training: finish the current update, checkpoint, exit cleanly.

A cluster (SLURM, a spot instance) sends SIGTERM some seconds before it kills a job. ``StopRequest``
turns the signal into a flag the loop reads at each update boundary (a Python bool: no device sync);
the loop then saves a checkpoint where it is and raises ``Preempted``, a ``SystemExit`` whose code is
128 + the signal number (143 for SIGTERM), so the process ends without a traceback and a scheduler
sees it did not finish. A second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(SystemExit):
    """The run stopped on a signal after saving its state; rerun with ``resume: true`` to continue."""

    def __init__(self, signum: int, message: str):
        super().__init__(128 + signum)
        self.signum = signum
        self.message = message

    def __str__(self) -> str:
        return self.message


class StopRequest:
    """Context manager installing the handlers (main thread only) and restoring the previous ones."""

    def __init__(self, name: str = "training"):
        self.name = name
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: stop now, without a checkpoint
        self.signum = signum
        log.warning(
            "%s: received %s: saving a checkpoint after the current update, then exiting",
            self.name,
            signal.Signals(signum).name,
        )

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
