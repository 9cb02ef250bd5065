"""The container runtimes a Windows node runs pods with; each name is spelled here only."""

from __future__ import annotations

DOCKER = "docker"  # dockershim: up to Kubernetes 1.23
CONTAINERD = "containerd"  # CRI: on Windows from 1.18; the only runtime from 1.24
RUNTIMES = (DOCKER, CONTAINERD)
