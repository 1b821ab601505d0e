"""TensorFlow's start-up chatter kept off a stage's stderr.

TensorFlow's C++ side prints notices ("oneDNN custom operations are on", "All log messages
before absl::InitializeLog() ...", CPU-feature and memory-patch notes) to file descriptor 2 before
its log level is set, so TF_CPP_MIN_LOG_LEVEL cannot hide them. While a stage script runs,
:func:`chatter_filtered` puts a pipe on descriptor 2 and a thread forwards everything else to
the real stderr as it comes (progress bars included); ``--verbose`` shows it all.
"""
from __future__ import annotations

import os
import re
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

CHATTER = re.compile(rb"absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|"
                     rb"This TensorFlow binary is optimized|rebuild TensorFlow with the appropriate|"
                     rb"M_TRIM_THRESHOLD")
LINE_STARTS = (b"WARNING: All log", b"I0000", b"W0000", b"E0000")   # may begin a chatter line


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def filter_chatter(pending: bytes, chunk: bytes) -> tuple[bytes, bytes]:
    """(bytes to forward, bytes held back) after ``chunk`` arrived behind ``pending``: complete
    chatter lines are dropped; an unfinished line is held only while it may be chatter."""
    *lines, tail = (pending + chunk).split(b"\n")
    out = b"".join(line + b"\n" for line in lines if not CHATTER.search(line))
    if tail and not tail.startswith(LINE_STARTS):
        return out + tail, b""
    return out, tail


@contextmanager
def chatter_filtered(enabled: bool = True) -> Iterator[None]:
    """Filter descriptor 2 while the block runs (a no-op when not ``enabled``)."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except OSError:
                break
            if not chunk:
                break
            try:
                out, pending = filter_chatter(pending, chunk)
                _write_all(real, out)
            except OSError:            # stderr went away: keep draining so writers never block
                pending = b""
        if pending and not CHATTER.search(pending):
            try:
                _write_all(real, pending)
            except OSError:
                pass

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)                # closes this process's last write end of the pipe
        thread.join(timeout=2)          # (child processes still holding it: give up waiting)
        os.close(real)
