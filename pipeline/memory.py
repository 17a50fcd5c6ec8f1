"""Memory tricks for big files, kept in one place: the collector paused while a stage builds, the
C heap trimmed after big frees.

Each was measured in ``benchmarks/`` (README, Benchmark) before it was kept: pausing the cyclic
collector saved about 40% of the CPU time of a 100k-row file, freezing what a stage built ≈0.08 s
per file, trimming the heap keeps the peak RSS of a night of big files from only growing.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Keep Python's cyclic garbage collector out of a stage that builds many objects at once.

    A 100k-row file becomes millions of small lists, strings and dicts, none of them garbage.
    With the collector on, every few hundred allocations trigger a collection, and each full one
    walks every object alive so far: about 40% of the CPU time of a 100k-row file. The stages
    (read, detect, validate, rules, store, render) run under this context manager or decorator;
    the collector resumes after each, and reference counting frees memory as usual meanwhile.
    Nesting is fine; when the collector is already off it is left off.

    Inside :func:`one_file` (the run, file by file), what is alive on leaving is frozen
    (``gc.freeze``) before the collector resumes: the objects the stage built would otherwise all
    be young, and the next collection would walk every one of them (a 100k-row file: ≈0.2 s of
    collections over its stages). Outside a file (the console, a review decision) nothing is
    frozen: no one would thaw it.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if _files_open:
            gc.freeze()
        gc.enable()


_files_open = 0
#: Objects the collector tracked after the last full collection (None before the first file).
_tracked_after_collection: int | None = None
#: A full collection once the tracked objects grew by a quarter (CPython's own rule for its
#: oldest generation) and at least this many: frozen objects never count towards that rule.
MIN_GROWTH = 50_000


@contextlib.contextmanager
def one_file() -> Iterator[None]:
    """The scope of one file of a run: afterwards, what its stages froze is thawed, and collected
    in full once the heap grew by a quarter since the last full collection.

    Without the full collection, cyclic garbage that was frozen (a stage's objects that died
    later) would only pile up: the collector counts frozen objects towards no generation, so a
    long-lived process (``gjj watch``, a night of thousands of files) grew without bound.
    """
    global _files_open, _tracked_after_collection
    _files_open += 1
    try:
        yield
    finally:
        _files_open -= 1
        if not _files_open:
            gc.unfreeze()
            tracked = _tracked()
            if _tracked_after_collection is None:
                _tracked_after_collection = tracked
            elif tracked > _tracked_after_collection * 5 // 4 + MIN_GROWTH:
                gc.collect()
                _tracked_after_collection = _tracked()


def _tracked() -> int:
    """How many objects the collector tracks (freezing them all counts them without a list)."""
    gc.freeze()
    count = gc.get_freeze_count()
    gc.unfreeze()
    return count


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` on other C libraries."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def trim_heap() -> None:
    """Hand the pages the C heap holds free back to the OS (glibc's ``malloc_trim``; else nothing).

    Big stages free a lot of C-heap memory at once (calamine's native copy of a sheet, pandas
    arrays); glibc keeps those pages unless asked, and Python's small objects live in separate
    arenas that cannot reuse them, so without this the peak RSS of a big file only grows.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
