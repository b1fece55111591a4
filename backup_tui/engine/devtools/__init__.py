"""Throwaway PostgreSQL clusters (``sandbox``) for the demo, the tests and the benchmarks, and the demo."""
