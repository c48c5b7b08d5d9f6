"""Send a job's log messages, and the C/C++ libraries' console output, to one log file.

Pythia 8 and FastJet print from C++ straight to the process's stdout; workflow jobs
call :func:`log_to_file` first so that this text lands in the job's log file instead of
the terminal.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def log_to_file(path: str | Path, name: str) -> logging.Logger:
    """Configure logging (INFO) into ``path`` and redirect fds 1 and 2 there too.

    Returns the logger ``name``. The file is opened in append mode.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    logging.basicConfig(
        filename=str(path),
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    return logging.getLogger(name)
