"""The one error hierarchy. Each error carries its exit code; only `cli.main` turns them into one."""

from __future__ import annotations


class BuilderError(Exception):
    """Base of every error this tool raises on purpose. The message says what, why, and what to do."""

    exit_code = 1


class ConfigError(BuilderError):
    """The configuration (file, environment or command line) is invalid."""

    exit_code = 2


class BuildError(BuilderError):
    """Building or checking the Kubernetes binaries failed."""

    exit_code = 3


class ToolchainError(BuilderError):
    """No Go toolchain that fits the tree can be had."""

    exit_code = 4


class FetchError(BuilderError):
    """Downloading, verifying or unpacking an input failed."""

    exit_code = 5


class RenderError(BuilderError):
    """Generating the node scripts failed."""

    exit_code = 6


class PackError(BuilderError):
    """Writing the bundle failed, or it would overwrite a different bundle."""

    exit_code = 7


class VerifyError(BuilderError):
    """A bundle failed verification; the message lists every problem."""

    exit_code = 8


class PublishError(BuilderError):
    """Publishing to GitHub Releases failed."""

    exit_code = 9
