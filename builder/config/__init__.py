"""Configuration: `bundle.yaml`, then the environment, then the command line, resolved once.

Everything is validated before any work starts. Every problem is reported (not only the
first), each naming the key, the file and line, and what would be valid.
"""

from .load import Overrides, default_cache_dir, load
from .model import (
    COMPONENTS,
    DEFAULT_CONFIG,
    NETWORK_MODES,
    RUNTIMES,
    SDN_COMMIT,
    SDN_FILES_DEFAULT,
    WINDOWS_BUILDS,
    BundleSection,
    Config,
    KubernetesSection,
    NetworkSection,
    NodeSection,
    Options,
    ReleaseSection,
    SdnFile,
    SdnSection,
    SigningSection,
    config_digest,
    runtime_for,
    runtime_problem,
)
from .validate import windows_path_problem
from .yamlread import Doc, parse_yaml

__all__ = [
    "COMPONENTS", "DEFAULT_CONFIG", "NETWORK_MODES", "RUNTIMES", "SDN_COMMIT", "SDN_FILES_DEFAULT",
    "WINDOWS_BUILDS", "BundleSection", "Config", "Doc", "KubernetesSection", "NetworkSection", "NodeSection",
    "Options", "Overrides", "ReleaseSection", "SdnFile", "SdnSection", "SigningSection", "config_digest",
    "default_cache_dir", "load", "parse_yaml", "runtime_for", "runtime_problem", "windows_path_problem",
]
