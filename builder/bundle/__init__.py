"""The zip and its proofs: packing, the manifest and sidecars, verification."""
