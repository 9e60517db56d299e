"""Preloaded by every worker process of a scan's local Dask cluster (``LocalCluster(preload=...)``
in :mod:`recast_ml.scan`), also by those Dask restarts after a worker was lost: the worker ignores
SIGINT. A Ctrl-C at the terminal signals the whole process group; only the scan's driver is to act
on it (it closes the cluster in order and says how far the scan got), not the workers, which would
die with tracebacks and leave multiprocessing's semaphores behind.

When the worker closes (the scan ended or was interrupted), its Dask logs are silenced: distributed's
``Worker.close`` (2026.8) stops the heartbeat's periodic callback but does not wait for a heartbeat
in flight, which then fails on the closing connections and was logged with its traceback, after
the driver's ``recast-ml: interrupted ...`` line (a race, seen on a loaded machine). The points'
results and errors travel with their futures, not in these logs."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any


def dask_setup(worker: Any) -> None:  # called by distributed in each worker process it starts
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def dask_teardown(worker: Any) -> None:  # called by distributed in Worker.close, before its connections close
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
