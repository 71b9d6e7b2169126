"""The package version (kept equal to the Cargo workspace version; a test checks)."""

__version__ = "0.1.0"
