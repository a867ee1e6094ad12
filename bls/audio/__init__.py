"""The only package that touches sounddevice (PortAudio)."""
