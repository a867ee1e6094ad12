"""The pure core: numpy and the standard library only (never Qt, never sounddevice).

Everything here is a function of stimulus time, counted in audio frames, so it can be tested
exactly and used unchanged by the live engine, the offline renderer and the benchmark.
"""
