"""Configuration: `bundle.yaml`, then the environment, then the command line, resolved once.

Everything is validated before any work starts. Every problem is reported (not only the
first), each naming the key, the file and line, and what would be valid.
"""

from .kit_inputs import INPUT_SECTIONS, KIT_INPUTS, KitInput, kit_input
from .load import Overrides, default_cache_dir, load
from .model import (
    COMPONENTS,
    DEFAULT_CONFIG,
    SDN_COMMIT,
    SDN_FILES_DEFAULT,
    WINDOWS_BUILDS,
    BundleSection,
    Config,
    InputSection,
    KubernetesSection,
    NetworkSection,
    NodeSection,
    Options,
    ReleaseSection,
    SdnFile,
    SdnSection,
    SigningSection,
    config_digest,
)
from .modes import MODES, NETWORK_MODES, NetworkMode, mode_for
from .rules import VersionedConfig, check_for_version, runtime_for, runtime_problem
from .runtimes import CONTAINERD, DOCKER, RUNTIMES
from .validate import windows_path_problem
from .yamlread import Doc, parse_yaml

__all__ = [
    "COMPONENTS", "CONTAINERD", "DEFAULT_CONFIG", "DOCKER", "INPUT_SECTIONS", "KIT_INPUTS", "MODES", "NETWORK_MODES",
    "RUNTIMES", "SDN_COMMIT", "SDN_FILES_DEFAULT", "WINDOWS_BUILDS", "BundleSection", "Config", "Doc", "InputSection",
    "KitInput", "KubernetesSection", "NetworkMode", "NetworkSection", "NodeSection", "Options", "Overrides",
    "ReleaseSection", "SdnFile", "SdnSection", "SigningSection", "VersionedConfig", "check_for_version",
    "config_digest", "default_cache_dir", "kit_input", "load", "mode_for", "parse_yaml", "runtime_for",
    "runtime_problem", "windows_path_problem",
]
