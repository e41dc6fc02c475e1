"""backcoach: an offline voice assistant that explains lower back pain when bending the knee."""

__version__ = "0.1.0"
