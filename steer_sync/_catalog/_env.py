"""Which environment variables a provider reads, decided by the catalog alone (layer L2).

The built-in catalog declares the built-in providers' variables (``ANTHROPIC_API_KEY`` then
``CLAUDE_API_KEY``, ``ANTHROPIC_BASE_URL``, ...), so no other module holds a provider id ->
variable table. An entry that redefines a built-in id without naming variables keeps the
built-in names. Reading the variables is the caller's job.
"""

from __future__ import annotations

import re
from typing import Dict, Optional, Tuple

from steer_sync._catalog._configs import ProviderConfig
from steer_sync._catalog._default_catalog import DEFAULT_CATALOG

__all__ = ["base_url_env_vars", "key_env_vars"]

_NOT_ENV_CHAR = re.compile(r"[^A-Za-z0-9_]")
_BUILTIN: Dict[str, ProviderConfig] = {}


def _builtin(provider_id: str) -> Optional[ProviderConfig]:
    if not _BUILTIN:
        for table in DEFAULT_CATALOG["providers"]:
            config = ProviderConfig.from_dict(table)
            _BUILTIN.setdefault(str(config.id), config)
    return _BUILTIN.get(str(provider_id))


def key_env_vars(provider_id: str, config: Optional[ProviderConfig] = None) -> Tuple[str, ...]:
    """The variables that may hold ``provider_id``'s API key, in lookup order.

    :param provider_id: the provider id.
    :param config: the provider's catalog entry, when there is one.
    :returns: the entry's ``api_key_env``; else the built-in entry's; else ``<PROVIDER_ID>_API_KEY``
        (upper case, characters not allowed in a variable name turned into ``_``).
    """
    own = config.api_key_env_vars if config is not None else ()
    if own:
        return own
    builtin = _builtin(provider_id)
    if builtin is not None and builtin.api_key_env_vars:
        return builtin.api_key_env_vars
    return (_NOT_ENV_CHAR.sub("_", str(provider_id)).upper() + "_API_KEY",)


def base_url_env_vars(provider_id: str, config: Optional[ProviderConfig] = None) -> Tuple[str, ...]:
    """The variables whose first non-blank value replaces ``provider_id``'s base URL.

    :param provider_id: the provider id.
    :param config: the provider's catalog entry, when there is one.
    :returns: the entry's ``base_url_env``; else the built-in entry's; else none.
    """
    own = config.base_url_env_vars if config is not None else ()
    if own:
        return own
    builtin = _builtin(provider_id)
    return builtin.base_url_env_vars if builtin is not None else ()
