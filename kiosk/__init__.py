"""好差评 counter rating kiosk: the device side (rating session, buffer, inputs, screens)."""

__version__ = "0.1.0"
