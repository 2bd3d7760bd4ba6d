"""The ``models`` and ``providers`` commands: tables of the catalog and of credential sources (layer L4)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, List

from steer_sync._cli._calls import _client
from steer_sync._errors import ConfigurationError, SteerError

if TYPE_CHECKING:
    from steer_sync._client import Client

__all__ = ["_models", "_providers"]


def _table(rows: List[List[str]], header: List[str]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths)).rstrip()]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _models(args: argparse.Namespace) -> int:
    from steer_sync._catalog import ModelRegistry

    registry = ModelRegistry.load(args.catalog)
    rows = []
    for model in registry.all():
        if args.provider and str(model.provider) != args.provider:
            continue
        rows.append(
            [
                f"{model.provider}/{model.id}",
                ", ".join(model.aliases),
                f"{model.context_window_tokens:,}" if model.context_window_tokens else "",
                "yes" if model.recommended else "",
            ]
        )
    if not rows:
        raise ConfigurationError(
            None, f"no models for provider {args.provider!r}; run 'steer-sync providers' to list them"
        )
    print(_table(rows, ["MODEL", "ALIASES", "CONTEXT", "RECOMMENDED"]))
    return 0


def _providers(args: argparse.Namespace) -> int:
    from steer_sync._catalog import base_url_env_vars

    client = _client(args)
    config = client.config_provider
    rows = []
    for provider in client.provider_registry.all():
        pid = provider.id
        base_url = provider.base_url or "(default)"
        for variable in base_url_env_vars(str(pid), provider):
            if (config.env(variable) or "").strip():
                base_url = f"{config.env(variable)} (from {variable})"
                break
        rows.append([str(pid), provider.api_format.value, base_url, _credential_source(client, pid)])
    print(_table(rows, ["PROVIDER", "API FORMAT", "BASE URL", "CREDENTIAL"]))
    return 0


def _credential_source(client: Client, provider_id: Any) -> str:
    """Where the credential would come from, never the credential itself."""
    config = client.config_provider
    if config.plugin_registry.get(provider_id) is not None:
        return "auth plugin"
    config_entry = client.provider_registry.get(provider_id)
    if config_entry is not None and not config_entry.auth_schemes:
        return "none needed"
    variables = config.key_env_vars(provider_id)
    for variable in variables:
        if (config.env(variable) or "").strip():
            return f"environment ({variable})"
    try:
        stored = config.resolve_api_key_for_provider(provider_id)
    except SteerError as error:
        return f"credential store unreadable: {error}"
    if stored is not None:
        return "credential store"
    return f"missing: set {' or '.join(variables)}" if variables else "missing: store an API key"
