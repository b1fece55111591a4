"""The operator's terminal app (Textual). Talks to the engine only through ``services``."""
