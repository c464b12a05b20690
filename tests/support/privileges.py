"""Child processes that file permissions apply to, even when the tests run as root."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


def _drop_permission_override() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"prctl(PR_CAPBSET_DROP): {os.strerror(errno)}")


def bound_by_file_permissions() -> Callable[[], None] | None:
    """A ``preexec_fn`` for subprocess: the child may not read what permissions forbid.

    Root reads any file through two capabilities; removed from the child's bounding set they are
    gone once it executes its program, as for any other user. Other users need nothing (None).
    """
    return _drop_permission_override if os.geteuid() == 0 else None
