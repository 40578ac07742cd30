"""libcard — library cards and patron accounts."""

__version__ = "0.1.0"
