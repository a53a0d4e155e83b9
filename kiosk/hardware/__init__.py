"""Button sources: where presses and prompt triggers come from.

Every source implements :class:`kiosk.hardware.base.Source`; the config picks
which ones run (``[hardware.gpio]``, ``[hardware.serial]``, the console,
``[hardware.simulated]``), the same way gpiozero picks a pin factory.
"""

from __future__ import annotations

import importlib

#: config section → (module, class). Each class takes the section's config
#: namespace: ``Cls(section_cfg)``.
BACKENDS = {
    "gpio": ("kiosk.hardware.gpio", "GpioSource"),
    "serial": ("kiosk.hardware.serial", "SerialSource"),
    "simulated": ("kiosk.hardware.simulated", "SimulatedSource"),
}


def build_sources(cfg, *, console: bool = False, stdin=None, stdout=None) -> list:
    """The button sources the config enables (plus the console when asked)."""
    sources = []
    if console:
        from .console import ConsoleSource
        sources.append(ConsoleSource(stdin, stdout))
    for key, (module, cls) in BACKENDS.items():
        section = getattr(cfg.hardware, key)
        if section.enabled:
            sources.append(getattr(importlib.import_module(module), cls)(section))
    return sources
