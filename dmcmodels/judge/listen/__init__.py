"""APE-style listening test: a static page builder (``build``) and the statistics of its ratings (``analyse``)."""
