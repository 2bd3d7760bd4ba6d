"""Where steer keeps its per-user and per-project files (layer L2).

The paths match the Rust ``steer`` tool (``utils/paths.rs``, which asks the ``directories``
crate for an application named ``steer``), so both read the same catalog:

* Linux and other POSIX systems: ``$XDG_CONFIG_HOME/steer`` when that variable holds an
  absolute path, else ``~/.config/steer``;
* macOS: ``~/Library/Application Support/steer``;
* Windows: ``%APPDATA%\\steer\\config`` (the ``directories`` crate puts a ``config`` folder
  under the project folder on Windows).

Everything is computed when called, never at import time: the environment is read then.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Mapping, Optional

__all__ = [
    "APP_NAME",
    "default_credentials_path",
    "discover_catalog_paths",
    "project_catalog_path",
    "user_catalog_path",
    "user_config_dir",
]

#: The application name the directories are derived from (shared with the Rust tool).
APP_NAME = "steer"


def user_config_dir(
    *,
    environ: Optional[Mapping[str, str]] = None,
    platform: Optional[str] = None,
    home: Optional[Path] = None,
) -> Optional[Path]:
    """Return the per-user configuration directory for steer, or ``None`` if there is none.

    The directory is not created.

    :param environ: the environment to read (default: ``os.environ``).
    :param platform: a ``sys.platform`` value (default: the running platform).
    :param home: the home directory (default: ``Path.home()``).
    :returns: the directory, or ``None`` when no home directory (or ``%APPDATA%``) is known.
    """
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    if plat == "win32":
        appdata = env.get("APPDATA", "").strip()
        return Path(appdata) / APP_NAME / "config" if appdata else None
    if home is None:
        try:
            home = Path.home()
        except (RuntimeError, KeyError):  # no HOME and no passwd entry
            return None
    if plat == "darwin":
        return home / "Library" / "Application Support" / APP_NAME
    xdg = env.get("XDG_CONFIG_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / APP_NAME
    return home / ".config" / APP_NAME


def project_catalog_path() -> Path:
    """Return ``./.steer/catalog.toml`` resolved against the current working directory."""
    return Path.cwd() / ".steer" / "catalog.toml"


def user_catalog_path() -> Optional[Path]:
    """Return ``<user config dir>/catalog.toml``, or ``None`` when there is no user config dir."""
    directory = user_config_dir()
    return directory / "catalog.toml" if directory is not None else None


def discover_catalog_paths() -> List[Path]:
    """Return the catalogs to look for, in merge order: the project one, then the user one.

    The files may not exist; loaders skip missing files.
    """
    paths = [project_catalog_path()]
    user = user_catalog_path()
    if user is not None:
        paths.append(user)
    return paths


def default_credentials_path() -> Optional[Path]:
    """Return the default credential store file, ``<user config dir>/credentials.json``.

    :returns: the path, or ``None`` when no user config dir is known (credentials are never
        put in the working directory, where they could end up in version control).
    """
    directory = user_config_dir()
    return directory / "credentials.json" if directory is not None else None
