"""Catalogs: which providers exist, how to reach them, and which models they serve (layer L2).

Importing this package reads no file and no environment variable; registries are built on
demand by :meth:`ProviderRegistry.load`, :meth:`ModelRegistry.load` or
:func:`load_registries`.
"""

from steer_sync._catalog._configs import ApiFormat, AuthScheme, ModelConfig, ProviderConfig
from steer_sync._catalog._env import base_url_env_vars, key_env_vars
from steer_sync._catalog._loader import CatalogPath
from steer_sync._catalog._paths import (
    default_credentials_path,
    discover_catalog_paths,
    project_catalog_path,
    user_catalog_path,
    user_config_dir,
)
from steer_sync._catalog._registry import ModelRegistry, ProviderRegistry, load_registries

__all__ = [
    "ApiFormat",
    "AuthScheme",
    "CatalogPath",
    "ModelConfig",
    "ModelRegistry",
    "ProviderConfig",
    "ProviderRegistry",
    "base_url_env_vars",
    "default_credentials_path",
    "discover_catalog_paths",
    "key_env_vars",
    "load_registries",
    "project_catalog_path",
    "user_catalog_path",
    "user_config_dir",
]
