"""Optional voice prompts (``[audio] enabled``): one when a prompt opens, one on thanks.

Default Chinese prompts ship in ``kiosk/data/voice/`` (made with espeak-ng, see
``tools/make_assets.sh``); ``[audio] prompt_sound`` / ``thanks_sound`` replace them.
A missing file or a machine without sound only logs a warning: the rating
never depends on the speaker.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VOICE_DIR = Path(__file__).resolve().parent.parent / "data" / "voice"
DEFAULTS = {"prompt": VOICE_DIR / "prompt.wav", "thanks": VOICE_DIR / "thanks.wav"}


def _kivy_loader(path: str) -> Any:
    from kivy.core.audio import SoundLoader

    return SoundLoader.load(path)


class Voice:
    """Plays the prompt and thanks sounds; does nothing when disabled."""

    def __init__(self, audio_cfg, loader: Callable[[str], Any] | None = None):
        self.enabled = bool(audio_cfg.enabled)
        self.files = {
            "prompt": os.path.expanduser(audio_cfg.prompt_sound) if audio_cfg.prompt_sound else str(DEFAULTS["prompt"]),
            "thanks": os.path.expanduser(audio_cfg.thanks_sound) if audio_cfg.thanks_sound else str(DEFAULTS["thanks"]),
        }
        self._loader = loader or _kivy_loader
        self._sounds: dict[str, Any] = {}
        self.played: list[str] = []

    def play(self, name: str) -> bool:
        """Play ``prompt`` or ``thanks``; returns whether a sound was started."""
        if not self.enabled:
            return False
        sound = self._sounds.get(name)
        if sound is None and name not in self._sounds:
            path = self.files[name]
            try:
                sound = self._loader(path) if os.path.isfile(path) else None
            except (OSError, RuntimeError, ValueError) as exc:
                log.warning("cannot load the %s sound %s: %s", name, path, exc)
                sound = None
            if sound is None:
                log.warning("no %s sound: %s is missing or cannot be played here", name, path)
            self._sounds[name] = sound
        if sound is None:
            return False
        try:
            sound.stop()
            sound.play()
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("cannot play the %s sound: %s", name, exc)
            return False
        self.played.append(name)
        del self.played[:-20]
        return True
