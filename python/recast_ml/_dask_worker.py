"""Preloaded by every worker process of a scan's local Dask cluster (``LocalCluster(preload=...)``
in :mod:`recast_ml.scan`), also by those Dask restarts after a worker was lost: the worker ignores
SIGINT. A Ctrl-C at the terminal signals the whole process group; only the scan's driver is to act
on it (it closes the cluster in order and says how far the scan got), not the workers, which would
die with tracebacks and leave multiprocessing's semaphores behind."""

from __future__ import annotations

import signal
import threading
from typing import Any


def dask_setup(worker: Any) -> None:  # called by distributed in each worker process it starts
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
