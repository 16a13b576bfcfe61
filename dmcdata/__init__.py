"""dmcdata: datasets, the DSP mixing console, shards and manifests, streaming loaders.

Layout (one guess finds anything):

- ``dmcdata.console``   numpy/numba DSP console (gain, polarity, EQ, compressor, reverb, pan)
- ``dmcdata.loaders``   mirdata-style loaders for MedleyDB, ENST-drums, SignalTrain LA2A
- ``dmcdata.demo``      the built-in demo corpus, written in the real datasets' layouts
- ``dmcdata.audio``     bit-exact audio reading and lossless encoding
- ``dmcdata.shards``    atomic WebDataset tar shard writing and hashing
- ``dmcdata.streaming`` torch IterableDatasets that stream shards by URL
"""

__version__ = "0.1.0"
