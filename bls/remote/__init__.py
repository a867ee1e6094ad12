"""The remote client (issue 13): the client's browser plays the set itself.

:mod:`bls.remote.wire` turns the engine's snapshots into JSON; ``web/model.js`` (the JavaScript port of
the stimulus model), ``web/clock.js`` (the client's audio clock against stimulus frames) and
``web/worklet.js`` (the AudioWorklet that renders the tone) evaluate them in the browser.
"""
