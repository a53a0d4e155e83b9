"""Optional voice prompts: when a prompt opens and on thanks; shipped files are small WAVs."""

import wave

from kiosk.screens.audio import DEFAULTS, Voice


class FakeSound:
    def __init__(self, path, log):
        self.path, self.log = path, log

    def stop(self):
        pass

    def play(self):
        self.log.append(self.path)


def voice_for(cfg, log):
    return Voice(cfg.audio, loader=lambda path: FakeSound(path, log))


def test_prompt_and_thanks_are_spoken_when_enabled(make_kiosk):
    played = []
    k = make_kiosk(mode="transaction", audio={"enabled": True})
    k.app.voice = voice_for(k.cfg, played)
    k.device.trigger("P-1").result()
    k.advance(0)
    assert played == [str(DEFAULTS["prompt"])]
    k.tap(k.button(0))
    assert played == [str(DEFAULTS["prompt"]), str(DEFAULTS["thanks"])]
    k.advance(k.cfg.ui.thanks_seconds)
    assert len(played) == 2, "going back to idle is silent"


def test_silent_when_disabled(make_kiosk):
    played = []
    k = make_kiosk(mode="transaction")
    k.app.voice = voice_for(k.cfg, played)
    k.device.trigger("P-1").result()
    k.tap(k.button(0))
    assert played == []


def test_replacement_files_and_missing_files(tmp_path, make_kiosk):
    played = []
    mine = tmp_path / "mine.wav"
    mine.write_bytes(b"RIFF")
    k = make_kiosk(audio={"enabled": True, "thanks_sound": str(mine), "prompt_sound": str(tmp_path / "gone.wav")})
    voice = voice_for(k.cfg, played)
    assert voice.play("thanks") and played == [str(mine)]
    assert voice.play("prompt") is False, "a missing file only logs"


def test_real_loader_never_breaks_the_app(make_kiosk):
    k = make_kiosk(audio={"enabled": True})
    k.tap(k.button(0))  # SDL's dummy audio driver here: played or not, the rating goes on
    assert k.screen == "thanks" and k.levels()["5"] == 1


def test_shipped_prompts_are_small_wavs():
    total = 0
    for path in DEFAULTS.values():
        with wave.open(str(path)) as w:
            assert w.getnchannels() == 1 and w.getframerate() >= 8000
            assert 0.5 < w.getnframes() / w.getframerate() < 6
        total += path.stat().st_size
    assert total < 300_000
