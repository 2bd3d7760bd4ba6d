"""A Client wired to a LoopbackServer: every built-in provider points at it (layer L4)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence

if TYPE_CHECKING:
    from steer_sync._client import Client
    from steer_sync._retry import RetryPolicy

__all__ = ["client_for", "environ_for"]

#: The dummy key every built-in provider gets; the server accepts any key.
TEST_KEY = "steer-sync-test-key"


def environ_for(url: str) -> Dict[str, str]:
    """Environment variables that point the built-in providers at ``url`` with dummy keys.

    :param url: the server's base URL, e.g. ``http://127.0.0.1:5123``.
    """
    return {
        "ANTHROPIC_API_KEY": TEST_KEY,
        "OPENAI_API_KEY": TEST_KEY,
        "GEMINI_API_KEY": TEST_KEY,
        "XAI_API_KEY": TEST_KEY,
        "ANTHROPIC_BASE_URL": url,
        "OPENAI_BASE_URL": f"{url}/v1",
        "GEMINI_BASE_URL": f"{url}/v1beta",
        "XAI_BASE_URL": f"{url}/v1",
    }


def client_for(
    url: str,
    *,
    catalogs: Sequence[str] = (),
    retry_policy: Optional[RetryPolicy] = None,
    **options: Any,
) -> Client:
    """A Client that reads no real environment, catalog or credential store.

    :param url: the server's base URL.
    :param catalogs: extra catalog files (for example a provider with a custom base URL).
    :param retry_policy: the policy to use (default: fast retries, so tests stay quick).
    :param options: passed to :class:`~steer_sync.Client` (for example ``provider_options``).
    """
    from steer_sync._auth import InMemoryAuthStorage, LlmConfigProvider
    from steer_sync._catalog import ModelRegistry, ProviderRegistry
    from steer_sync._client import Client
    from steer_sync._retry import RetryPolicy

    env = environ_for(url)
    providers = ProviderRegistry.load(list(catalogs), discover=False)
    config = LlmConfigProvider(InMemoryAuthStorage(), env=env.get, provider_registry=providers)
    policy = retry_policy if retry_policy is not None else RetryPolicy(base_delay=0.001)
    return Client(config, providers, ModelRegistry.load(list(catalogs), discover=False), retry_policy=policy, **options)
