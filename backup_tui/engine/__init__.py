"""The engine: pure domain and I/O, no textual or rich, usable from any thread."""
