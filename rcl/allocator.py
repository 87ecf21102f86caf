"""Transparent huge pages for the large buffers XLA allocates on every call (glibc's `malloc.hugetlb`).

XLA on CPU allocates each execution's buffers with malloc and frees them when it returns. A batch's
activations are tens of MB (RNN E at batch 256: float32[L, 256, 128] per direction, the CNN's first
feature maps), so glibc serves them with mmap, returns them to the kernel on free, and the next execution
touches fresh pages, taking a minor page fault per 4 KiB page in the kernel. With glibc's
`glibc.malloc.hugetlb=1` tunable, malloc marks those regions MADV_HUGEPAGE, so one fault maps 2 MiB and
the kernel's share of the work shrinks (BUILD.md, "Measurements behind code choices").

Tunables are read when a process starts, so the `rcl` command re-executes itself once with the tunable
added. (Keeping freed memory in the process instead, with mallopt: one arena, no mmap, no trimming, was
not kept: its peak RSS was not reproducible between identical runs.) Elsewhere than Linux with glibc
nothing changes; an older glibc ignores the unknown tunable.
"""

from __future__ import annotations

import os
import platform
import sys

_TUNABLE = "glibc.malloc.hugetlb"


def ask(environ) -> bool:
  """Adds the huge-page tunable to `environ` (os.environ, or the environment of processes to start), unless
  it is there already; says whether it added it. Processes started with it do not restart themselves."""
  tunables = environ.get("GLIBC_TUNABLES", "")
  if _TUNABLE in tunables:
    return False
  environ["GLIBC_TUNABLES"] = ":".join(filter(None, [tunables, f"{_TUNABLE}=1"]))
  return True


def restart_with_huge_pages() -> None:
  """Replaces this process by the same command line (`sys.orig_argv`: interpreter options, script or
  module, arguments) with glibc's malloc asking for transparent huge pages, unless it already does (or the
  C library is not glibc); returns only in that case. Call it before threads start or files open."""
  if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or not ask(os.environ):
    return
  sys.stdout.flush()
  sys.stderr.flush()
  os.execv(sys.executable, sys.orig_argv)
