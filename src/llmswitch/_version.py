"""The package version, in a module of its own so that any module can read it without
importing the package's ``__init__`` (pyproject.toml holds the same number;
tests/test_transport_headers.py keeps the two equal)."""

__version__ = "0.1.0"
