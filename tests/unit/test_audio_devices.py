"""The output list and how a chosen name is opened, against a fake PortAudio device table
(a Windows-like one lists every output once per host API)."""

from __future__ import annotations

import pytest

from bls.audio import output

MME, DS, WASAPI = 0, 1, 2


class FakeSD:
    def __init__(self, devices, default_out):
        self.devices, self.default_out = devices, default_out
        self.rescans = 0

    def query_devices(self, device=None, kind=None):
        if kind == "output":
            return self.devices[self.default_out]
        return self.devices if device is None else self.devices[device]

    def _terminate(self):
        self.rescans += 1

    def _initialize(self):
        pass


def dev(name, hostapi, out=2):
    return {"name": name, "hostapi": hostapi, "max_output_channels": out}


WINDOWS = [dev("Microphone (USB)", MME, out=0), dev("Speakers (Realtek)", MME), dev("Headphones (USB)", MME),
           dev("Speakers (Realtek)", DS), dev("Headphones (USB)", DS), dev("Speakers (Realtek)", WASAPI),
           dev("Headphones (USB)", WASAPI), dev("Only on WASAPI", WASAPI), dev("Mono out", MME, out=1)]


@pytest.fixture
def sd(monkeypatch):
    fake = FakeSD(WINDOWS, default_out=1)
    monkeypatch.setattr(output, "import_sounddevice", lambda: (fake, ""))
    return fake


def test_each_stereo_output_is_listed_once_default_host_api_first(sd):
    assert output.output_devices() == ["Speakers (Realtek)", "Headphones (USB)", "Only on WASAPI"]
    assert sd.rescans == 0
    output.output_devices(refresh=True)
    assert sd.rescans == 1


def test_a_listed_name_opens_the_default_host_apis_output(sd):
    assert output.resolve_output(sd, "Headphones (USB)") == 2  # MME: the default output's host API
    sd.default_out = 5  # the default output is on WASAPI
    assert output.resolve_output(sd, "Headphones (USB)") == 6
    assert output.resolve_output(sd, "Only on WASAPI") == 7


def test_anything_else_goes_to_portaudio_as_given(sd):
    assert output.resolve_output(sd, None) is None
    assert output.resolve_output(sd, 3) == 3
    assert output.resolve_output(sd, "Headph") == "Headph"  # part of a name: PortAudio's own matching
    assert output.resolve_output(sd, "Mono out") == "Mono out"  # not a stereo output: PortAudio says why
