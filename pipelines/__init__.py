"""Ray pipelines that compose the pieces of :mod:`dmcdata` into whole jobs (build, synth-chain)."""
