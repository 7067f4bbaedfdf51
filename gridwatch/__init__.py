"""gridwatch: IoT sensing and dispatch gateway for grid-based local governance."""

__version__ = "0.1.0"
