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

    hostapis = ({"name": "MME"}, {"name": "Windows DirectSound"}, {"name": "Windows WASAPI"})

    def query_hostapis(self, index=None):
        return self.hostapis if index is None else self.hostapis[index]

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
    assert output.output_names(WINDOWS, MME) == ["Speakers (Realtek)", "Headphones (USB)", "Only on WASAPI"]
    assert sd.rescans == 0


def _portaudio(fake, monkeypatch):
    pa = output.PortAudio()
    pa._sd, pa._loaded, pa.generation = fake, True, 1
    fresh = FakeSD(WINDOWS, default_out=1)
    monkeypatch.setattr(output, "_fresh_sounddevice", lambda old: fresh)
    return pa, fresh


def test_a_clean_portaudio_without_jack_rescans_in_place(monkeypatch):
    fake = FakeSD(WINDOWS, default_out=1)
    pa, _ = _portaudio(fake, monkeypatch)
    pa.rescan()
    assert fake.rescans == 1 and pa.module()[0] is fake


@pytest.mark.parametrize("why", ["jack", "tainted", "stream open"])
def test_portaudio_is_never_terminated_with_a_jack_client_a_dead_stream_or_an_open_one(monkeypatch, why):
    """Pa_Terminate with a JACK client whose server died aborts the process (pa_jack.c Terminate
    assertion); with a dead stream open it hangs: a fresh PortAudio instance is loaded instead."""
    fake = FakeSD(WINDOWS, default_out=1)
    pa, fresh = _portaudio(fake, monkeypatch)
    if why == "jack":
        fake.hostapis = ({"name": "ALSA"}, {"name": "JACK Audio Connection Kit"})
    elif why == "tainted":
        pa.taint()
    else:
        pa.streams.add(object())
    pa.rescan()
    assert fake.rescans == 0
    assert pa.module()[0] is fresh and not pa.tainted and not pa.streams and pa.generation == 2


def test_a_job_past_its_deadline_gets_a_fresh_worker_and_taints_portaudio():
    import threading
    import time

    pa = output.PortAudio()
    release = threading.Event()
    stuck = pa.submit(release.wait, deadline_s=0.05)  # a stream that will not stop
    time.sleep(0.1)
    assert pa.stuck()
    t = time.monotonic()
    done = pa.submit(lambda: "next", deadline_s=1.0)
    assert done.result(timeout=1.0) == "next" and time.monotonic() - t < 0.5
    assert pa.tainted and pa.workers_lost == 1 and not stuck.done()
    release.set()


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
