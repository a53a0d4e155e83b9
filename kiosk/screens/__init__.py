"""The touch screens (Kivy): thin views over the rating session.

Nothing here decides anything about ratings: touches, keypad keys and chips
become calls on :class:`kiosk.device.Device`, and the screen shown follows the
session's :class:`~kiosk.session.View`.

Kivy reads its environment when it is first imported, so this package sets the
defaults a kiosk needs before any Kivy import: no command-line parsing (our
``kiosk`` CLI owns ``argv``) and logging through Python's ``logging``.
"""

import os

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
