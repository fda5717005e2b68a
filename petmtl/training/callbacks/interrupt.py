"""Ctrl-C: finish the current batch, keep the best weights, end the run cleanly."""

from __future__ import annotations

import signal
import threading

from .base import Callback


class DeferredInterrupt(Callback):
    """Turn the first Ctrl-C (SIGINT) into a request honoured at the end of the batch.

    While the run lasts, a SIGINT handler records the request; after the current
    training batch the loop is interrupted (``loop.state.interrupted``), and a request
    that arrives during validation ends the run after that epoch's record. A second
    Ctrl-C interrupts at once. The handler is installed only in the main thread and only
    where SIGINT has Python's default handler: a handler of the user's, or SIGINT
    ignored (as in a shell's background job), is left as it is.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def on_train_begin(self, loop) -> None:
        self.requested = False
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def on_batch_end(self, loop) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def on_epoch_end(self, loop) -> None:
        if self.requested:
            loop.state.stop = loop.state.interrupted = True

    def on_train_end(self, loop) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
