"""The package version, in a module of its own so that lower layers can name it (layer L0)."""

__all__ = ["__version__"]

#: The version of steer-sync (PEP 440).
__version__ = "0.1.0"
