"""Bytes flowing one way, read once: the compressor and hashes (``pipeline``) into a sink (``sinks``),
and the decoders back. Knows nothing of repositories or databases."""
