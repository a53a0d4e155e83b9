"""A day in the hall (the bench/hall_day/ package): ``python bench/hall_day.py [options]``,
the same as ``python -m bench.hall_day [options]``."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Keep bench/ itself off the import path (bench/serial.py is named like pyserial).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from bench.hall_day.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
