"""What the node runs: the generated scripts, their flags, the CNI config and the samples."""
