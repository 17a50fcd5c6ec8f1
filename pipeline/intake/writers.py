"""Which files a process of this host still has open for writing: one pass over ``/proc`` per scan.

An upload that pauses longer than the settle time (a slow line, a laptop going to sleep) looks
settled by its size and times. While the SFTP server (or Samba, or a copy) that writes it runs on
this host it still holds the file open for writing, and that is what this module finds: for every
process, ``/proc/<pid>/fd`` lists its descriptors and ``/proc/<pid>/fdinfo/<fd>`` gives their
``flags:`` (octal; the access mode ``O_WRONLY`` = 01 or ``O_RDWR`` = 02 means writing) and inode.
The result is a set of ``(st_dev, st_ino)``, so a path seen through a bind mount or a chroot is the
same file. One pass serves a whole scan, however many files wait.

The descriptors of another user's processes can be read only by root or with ``CAP_SYS_PTRACE``
and ``CAP_DAC_READ_SEARCH``. Processes whose descriptors cannot be read are counted, and the
first pass of a process that meets them logs a warning: a file they write is then held back by
the settle time alone. Writers on other hosts (an NFS or CIFS share) are never visible here.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass

log = logging.getLogger(__name__)

PROC = "/proc"
#: ``O_ACCMODE``: the access mode bits of ``flags:``; 0 is ``O_RDONLY``.
ACCESS_MODE = 0o3

_warned = False


@dataclass(frozen=True)
class OpenForWriting:
    """The files open for writing on this host, and how many processes could not be looked at."""

    files: frozenset[tuple[int, int]]
    unseen: int = 0

    def __contains__(self, key: object) -> bool:
        return key in self.files


def _fields(fdinfo: bytes) -> tuple[int, int | None]:
    """``flags:`` (octal) and ``ino:`` (None where the kernel does not give it) of one descriptor."""
    flags, ino = 0, None
    for line in fdinfo.splitlines():
        if line.startswith(b"flags:"):
            flags = int(line.split()[1], 8)
        elif line.startswith(b"ino:"):
            ino = int(line.split()[1])
    return flags, ino


def _hidden_processes(proc: str) -> bool:
    """``/proc`` mounted with ``hidepid``: another user's processes are not even listed."""
    if os.geteuid() == 0:
        return False
    try:
        with open(f"{proc}/self/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 3 and fields[1] == proc:
                    if any(option.startswith("hidepid=") and option not in ("hidepid=0", "hidepid=off") for option in fields[3].split(",")):
                        return True
    except OSError:
        pass
    return False


def scan_open_files(among: Collection[int] | None = None, proc: str = PROC) -> OpenForWriting:
    """One pass over every process's descriptors: the ``(st_dev, st_ino)`` of files open for writing.

    ``among``: the inode numbers of interest (the files waiting in the inbox). A descriptor whose
    ``fdinfo`` names another inode is passed over without following it, so the pass never waits on
    another file system (a hung NFS mount) and stays cheap: one small read per descriptor.
    """
    files: set[tuple[int, int]] = set()
    unseen = 0
    try:
        pids = [name for name in os.listdir(proc) if name.isdigit()]
    except OSError:
        return OpenForWriting(frozenset(), unseen=1)  # no /proc: nothing can be seen
    for pid in pids:
        try:
            descriptors = os.listdir(f"{proc}/{pid}/fd")
        except PermissionError:
            unseen += 1
            continue
        except OSError:  # the process has exited
            continue
        for fd in descriptors:
            try:
                info = os.open(f"{proc}/{pid}/fdinfo/{fd}", os.O_RDONLY)
                try:
                    flags, ino = _fields(os.read(info, 512))
                finally:
                    os.close(info)
                if not flags & ACCESS_MODE or (among is not None and ino is not None and ino not in among):
                    continue  # open for reading only, or another file
                found = os.stat(f"{proc}/{pid}/fd/{fd}")
            except PermissionError:
                unseen += 1
                break
            except (OSError, ValueError, IndexError):  # closed meanwhile
                continue
            if stat.S_ISREG(found.st_mode):
                files.add((found.st_dev, found.st_ino))
    if _hidden_processes(proc):
        unseen += 1
    return OpenForWriting(frozenset(files), unseen)


def open_for_writing(among: Collection[int] | None = None, proc: str = PROC) -> OpenForWriting:
    """:func:`scan_open_files`, warning once per process when some processes cannot be seen."""
    global _warned
    found = scan_open_files(among, proc)
    if found.unseen and not _warned:
        _warned = True
        log.warning(
            "the open files of %d processes cannot be read (this needs root, or CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, and /proc "
            "without hidepid): a file such a process is still writing is held back only by the settle time",
            found.unseen,
        )
    return found
