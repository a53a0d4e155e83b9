"""``python -m central server|admin …``: the server commands without the device CLI."""

import sys

from .commands import main

sys.exit(main())
