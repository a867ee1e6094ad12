"""bls: bilateral stimulation for EMDR therapy.

A moving target on the client's screen and a tone panned in lockstep in the client's headphones,
both driven by one clock: the audio sample counter.
"""

__version__ = "0.1.0"
