"""Entry point of one Geant4 worker process: ``python -m caloforge.fullsim.worker FD LOGFILE``.

Started by :func:`caloforge.fullsim.runner.run_chunks`; it talks to its parent over the socket whose
file descriptor it is given, and writes Geant4's own output to LOGFILE.
"""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

from caloforge.fullsim.runner import worker_main

__all__: list[str] = []

if __name__ == "__main__":
    worker_main(Connection(int(sys.argv[1])), sys.argv[2])
