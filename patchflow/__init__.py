"""patchflow: video generation models as world simulators."""

__version__ = "0.1.0"
