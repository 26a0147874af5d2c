"""How reader processes start: forked from a server process that has imported them.

Spawning a reader costs a fresh interpreter, which imports pyarrow, the readers
and (to re-create the caller's ``__main__``) the ``trailguard`` command itself:
about 0.45 s on a 2-core VM before the first batch comes back.  Where the
platform has it, a *fork server* does those imports once, and each reader is a
fork of it, ready in milliseconds.  :func:`start_server` launches that server
without waiting for it, so its imports overlap the caller's own start-up.

This module imports nothing heavy, so the command can call it first thing.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import ForkServerContext, SpawnContext
from typing import Final

#: kinds of object read by reader processes: JSON logs decode under the GIL, so they go
#: to other processes; flow logs parse in C++ with the GIL released, so a thread reads them
#: without the cost of sending batches between processes
POOLED_KINDS: Final = frozenset({"cloudtrail", "dns"})

#: what the server imports for its readers: the reader pool's and the JSON readers'
#: modules, and the command's
#: (each reader runs the ``trailguard`` script again as ``__mp_main__``, which imports
#: ``trailguard.cli``: ~70 ms per reader unless the server has it already).  Not
#: ``"__main__"``: Python 3.11's fork server never receives the main script's path, so
#: that entry imports nothing.
PRELOAD: Final = [
    "trailguard.cli",
    "trailguard.formats.parallel",
    "trailguard.formats.cloudtrail",  # (the readers themselves: ~40 ms each to import)
    "trailguard.formats.dns",
]


def context() -> ForkServerContext | SpawnContext:
    """The fork server's context where there is one, else spawning's."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def start_server() -> None:
    """Launch the fork server now (it does its imports in the background)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        from multiprocessing import forkserver

        context()  # (which sets what the server imports)
        forkserver.ensure_running()
