"""The single place the version number is written."""

__version__ = "0.1.0.dev0"
