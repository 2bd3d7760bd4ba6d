"""Reading catalogs: the built-in one, discovered files and extra files (layer L2).

The built-in catalog comes from :mod:`steer_sync._catalog._default_catalog`, a Python
value, so it needs no TOML parser. Catalog files are parsed with ``tomllib`` (Python 3.11+)
or ``tomli``, imported here on first use so neither is on the ``import steer_sync`` path.

Every error names the catalog and the entry: ``catalog /p/x.toml: model anthropic/foo: ...``.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from steer_sync._catalog._configs import ModelConfig, ProviderConfig
from steer_sync._catalog._parse import _entry_label, _EntryError, _model_from_table, _provider_from_table
from steer_sync._catalog._paths import discover_catalog_paths
from steer_sync._errors import ConfigurationError

__all__ = ["BUILTIN_SOURCE", "CatalogPath", "ParsedCatalog", "builtin_catalog", "collect_catalogs", "parse_catalog"]

#: How the built-in catalog is named in error messages.
BUILTIN_SOURCE = "<built-in>"

#: A catalog file path as callers may give it.
CatalogPath = Union[str, "os.PathLike[str]"]


class ParsedCatalog:
    """One catalog, checked entry by entry but not yet layered with others. Read-only by convention.

    A plain class: a dataclass costs ~0.3 ms to create at import, on every cold start.
    """

    __slots__ = ("models", "providers", "source")

    def __init__(self, source: str, providers: Tuple[ProviderConfig, ...], models: Tuple[ModelConfig, ...]) -> None:
        #: The file path, or ``<built-in>``; used in error messages.
        self.source = source
        #: The ``[[providers]]`` entries in file order.
        self.providers = providers
        #: The ``[[models]]`` entries in file order.
        self.models = models

    def __repr__(self) -> str:
        return f"ParsedCatalog(source={self.source!r}, {len(self.providers)} providers, {len(self.models)} models)"


def _toml_loads(text: str, source: str) -> Mapping[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib as toml
    else:
        try:
            import tomli as toml
        except ImportError:
            raise ConfigurationError(
                None,
                f"cannot read catalog {source}: no TOML parser is available; "
                "run 'pip install tomli' (Python 3.10 and older)",
            ) from None
    try:
        data: Mapping[str, Any] = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise ConfigurationError(None, f"Failed to parse catalog at {source}: {exc}") from exc
    return data


def _entries(data: Mapping[str, Any], key: str, source: str) -> List[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ConfigurationError(None, f"catalog {source}: '{key}' must be an array of tables ([[{key}]])")
    return value


def parse_catalog(data: Mapping[str, Any], source: str) -> ParsedCatalog:
    """Check a parsed catalog document and turn its entries into config values.

    Unknown keys are ignored, as in steer. Cross-entry rules (known providers, alias and
    display-name uniqueness, required ``max_output_tokens``) are checked by the model
    registry after layering.

    :param data: the TOML document as a mapping.
    :param source: the file name (or ``<built-in>``) for error messages.
    :returns: the parsed catalog.
    :raises ConfigurationError: naming the file and the entry, if an entry is invalid.
    """
    if not isinstance(data, Mapping):
        raise ConfigurationError(None, f"catalog {source}: expected a TOML document (a table)")
    providers = []
    for index, raw in enumerate(_entries(data, "providers", source)):
        try:
            providers.append(_provider_from_table(raw))
        except _EntryError as exc:
            label = _entry_label(raw, "provider", index) if isinstance(raw, Mapping) else f"providers[{index}]"
            raise ConfigurationError(None, f"catalog {source}: provider {label}: {exc}") from None
    models = []
    for index, raw in enumerate(_entries(data, "models", source)):
        try:
            models.append(_model_from_table(raw, source))
        except _EntryError as exc:
            label = _entry_label(raw, "model", index) if isinstance(raw, Mapping) else f"models[{index}]"
            raise ConfigurationError(None, f"catalog {source}: model {label}: {exc}") from None
    return ParsedCatalog(source=source, providers=tuple(providers), models=tuple(models))


def read_catalog_file(path: CatalogPath) -> Optional[ParsedCatalog]:
    """Read and check one catalog file.

    :param path: the file.
    :returns: the parsed catalog, or ``None`` if the file does not exist (missing catalogs
        are skipped, as in steer).
    :raises ConfigurationError: if the file cannot be read or parsed, or an entry is invalid.
    """
    file = Path(os.fspath(path))
    source = str(file)
    if not file.exists():
        return None
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigurationError(None, f"cannot read catalog {source}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(None, f"Failed to parse catalog at {source}: the file is not UTF-8 ({exc})") from exc
    return parse_catalog(_toml_loads(text, source), source)


@functools.lru_cache(maxsize=1)
def builtin_catalog() -> ParsedCatalog:
    """Return the built-in catalog, parsed once per process (it is immutable)."""
    from steer_sync._catalog._default_catalog import DEFAULT_CATALOG

    return parse_catalog(DEFAULT_CATALOG, BUILTIN_SOURCE)


def _as_path_list(additional: Union[CatalogPath, Iterable[CatalogPath]]) -> List[CatalogPath]:
    # A lone path is a common slip for a one-element list; iterating it would read characters.
    if isinstance(additional, (str, os.PathLike)):
        return [additional]
    return list(additional)


def collect_catalogs(
    additional_catalogs: Union[CatalogPath, Sequence[CatalogPath]] = (), *, discover: bool = True
) -> List[ParsedCatalog]:
    """Read every catalog in merge order: built-in, project, user, then the extra files.

    :param additional_catalogs: extra catalog files, merged last in the order given.
    :param discover: whether to look for ``./.steer/catalog.toml`` and the user catalog.
    :returns: the catalogs that exist, in merge order (later ones win).
    :raises ConfigurationError: if a file cannot be read or parsed, or an entry is invalid.
    """
    catalogs = [builtin_catalog()]
    paths: List[CatalogPath] = list(discover_catalog_paths()) if discover else []
    paths.extend(_as_path_list(additional_catalogs))
    for path in paths:
        catalog = read_catalog_file(path)
        if catalog is not None:
            catalogs.append(catalog)
    return catalogs
