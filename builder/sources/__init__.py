"""What goes into a bundle: the Kubernetes binaries (built or downloaded) and the pinned inputs."""
