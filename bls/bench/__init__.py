"""The timing benchmark: bls against a naive design, side by side (``bls bench``)."""
