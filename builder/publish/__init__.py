"""Putting bundles on GitHub Releases."""
