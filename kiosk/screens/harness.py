"""Running the real app without a display: tests, screenshots and benchmarks.

``offscreen(size)`` must run before Kivy creates its window (i.e. before the
first import of ``kivy.core.window``): it selects SDL's offscreen video driver,
a private ``KIVY_HOME`` and the window size.
"""

from __future__ import annotations

import os
import tempfile


def offscreen(size: str = "1024x600", kivy_home: str | None = None) -> None:
    """Set up Kivy for a headless window of ``size`` ("WxH")."""
    os.environ["SDL_VIDEODRIVER"] = "offscreen"
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    # Mesa's software rasterizer keeps growing per-thread memory with every frame
    # drawn in threaded mode; rendering in the calling thread keeps RSS flat.
    os.environ.setdefault("LP_NUM_THREADS", "0")
    os.environ["KIVY_NO_ARGS"] = "1"
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ["KIVY_HOME"] = kivy_home or tempfile.mkdtemp(prefix="kivy-home-")
    from kivy.config import Config

    width, height = size.split("x")
    Config.set("graphics", "width", width)
    Config.set("graphics", "height", height)
    Config.set("graphics", "fullscreen", "0")
    Config.set("graphics", "maxfps", "0")  # frames as fast as asked: no sleeping in tests
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")


def window():
    """The (offscreen) window, created on first use."""
    from kivy.base import EventLoop

    EventLoop.ensure_window()
    return EventLoop.window


def settle(frames: int = 3) -> None:
    """Let Kivy run ``frames`` iterations: clock, layout and drawing."""
    from kivy.base import EventLoop

    for _ in range(frames):
        EventLoop.idle()


def resize(size: str) -> None:
    width, height = (int(v) for v in size.split("x"))
    win = window()
    win.size = (width, height)
    settle(3)
