#!/bin/sh
# Regenerate the shipped voice prompts in kiosk/data/voice/ with espeak-ng
# (Debian package espeak-ng, Mandarin voice "cmn"), trimmed of silence, as 16 kHz
# mono 16-bit WAV to keep each file small; replace them with recorded prompts through
# [audio] prompt_sound / thanks_sound in the config.
set -eu
cd "$(dirname "$0")/../kiosk/data/voice"
espeak-ng -v cmn -s 170 -w prompt.wav "请您对本次服务进行评价"
espeak-ng -v cmn -s 170 -w thanks.wav "感谢您的评价"
python3 - <<'PY'
import audioop, wave
for name in ("prompt.wav", "thanks.wav"):
    with wave.open(name, "rb") as src:
        params = src.getparams()
        frames = src.readframes(params.nframes)
    if params.framerate != 16000:
        frames, _ = audioop.ratecv(frames, params.sampwidth, params.nchannels, params.framerate, 16000, None)
    step = 160 * params.sampwidth  # 10 ms chunks; keep 50 ms of silence either side
    loud = [i for i in range(0, len(frames), step) if audioop.rms(frames[i:i + step], params.sampwidth) > 200]
    if loud:
        frames = frames[max(0, loud[0] - 5 * step):loud[-1] + 6 * step]
    with wave.open(name, "wb") as dst:
        dst.setnchannels(params.nchannels)
        dst.setsampwidth(params.sampwidth)
        dst.setframerate(16000)
        dst.writeframes(frames)
PY
ls -l prompt.wav thanks.wav
