"""The remote client for telehealth (issue 13): the client's browser plays the set itself. Qt-free.

:mod:`bls.remote.wire` turns the engine's snapshots into JSON; :mod:`bls.remote.protocol` is the message
envelope; :mod:`bls.remote.server` the embedded server (the page at ``/r/<token>``, its WebSocket at
``/ws/<token>``) fed by :mod:`bls.remote.feed`. In the browser, ``web/model.js`` (the JavaScript port of
the stimulus model), ``web/clock.js`` (the client's audio clock against stimulus frames) and
``web/worklet.js`` (the AudioWorklet that renders the tone) evaluate the snapshots; ``web/page.js`` is
the page around them.
"""
