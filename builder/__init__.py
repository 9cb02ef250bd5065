"""Build offline Kubernetes Windows node bundles: build, fetch, render, pack, publish."""

__version__ = "0.1.0"
