"""The built-in catalog as a Python value, so no TOML parser is needed for it (layer L2).

Generated from ``default_catalog.toml`` (the asset of steer ``crates/steer-core/assets``);
``tests/test_catalog.py`` checks that the two are equal. Edit both together.

Treat the value as read-only: loaders copy what they need.
"""

from __future__ import annotations

from typing import Any, Dict

__all__ = ["DEFAULT_CATALOG"]

#: The parsed ``default_catalog.toml``.
DEFAULT_CATALOG: Dict[str, Any] = {
    "providers": [
        {
            "id": "anthropic",
            "name": "Anthropic",
            "api_format": "anthropic",
            "auth_schemes": ["api-key", "oauth2"],
            "api_key_env": ["ANTHROPIC_API_KEY", "CLAUDE_API_KEY"],
            "base_url_env": "ANTHROPIC_BASE_URL",
        },
        {
            "id": "openai",
            "name": "OpenAI",
            "api_format": "openai-responses",
            "auth_schemes": ["api-key", "oauth2"],
            "api_key_env": ["OPENAI_API_KEY"],
            "base_url_env": "OPENAI_BASE_URL",
        },
        {
            "id": "google",
            "name": "Google",
            "api_format": "google",
            "auth_schemes": ["api-key"],
            "api_key_env": ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
            "base_url_env": "GEMINI_BASE_URL",
        },
        {
            "id": "xai",
            "name": "xAI",
            "api_format": "xai",
            "auth_schemes": ["api-key"],
            "api_key_env": ["XAI_API_KEY", "GROK_API_KEY"],
            "base_url_env": "XAI_BASE_URL",
        },
    ],
    "models": [
        {
            "provider": "anthropic",
            "id": "claude-haiku-4-5",
            "aliases": ["haiku"],
            "recommended": False,
            "context_window_tokens": 200_000,
            "parameters": {
                "max_output_tokens": 32_000,
                "thinking_config": {
                    "enabled": True,
                    "budget_tokens": 16_000,
                },
            },
        },
        {
            "provider": "anthropic",
            "id": "claude-sonnet-4-5",
            "aliases": ["sonnet"],
            "recommended": True,
            "context_window_tokens": 200_000,
            "parameters": {
                "max_output_tokens": 32_000,
                "thinking_config": {
                    "enabled": True,
                    "budget_tokens": 16_000,
                },
            },
        },
        {
            "provider": "anthropic",
            "id": "claude-opus-4-5",
            "aliases": ["opus-4-5"],
            "recommended": False,
            "context_window_tokens": 200_000,
            "parameters": {
                "max_output_tokens": 32_000,
                "thinking_config": {
                    "enabled": True,
                    "budget_tokens": 16_000,
                },
            },
        },
        {
            "provider": "anthropic",
            "id": "claude-opus-4-6",
            "aliases": ["opus", "opus-4-6"],
            "recommended": True,
            "context_window_tokens": 200_000,
            "parameters": {
                "max_output_tokens": 32_000,
                "thinking_config": {
                    "enabled": True,
                    "budget_tokens": 16_000,
                },
            },
        },
        {
            "provider": "openai",
            "id": "gpt-5-nano-2025-08-07",
            "aliases": ["gpt-5-nano", "gpt5-nano"],
            "recommended": False,
            "context_window_tokens": 400_000,
            "parameters": {
                "max_output_tokens": 128_000,
                "thinking_config": {
                    "enabled": True,
                    "effort": "medium",
                },
            },
        },
        {
            "provider": "openai",
            "id": "gpt-5-mini-2025-08-07",
            "aliases": ["gpt-5-mini", "gpt5-mini"],
            "recommended": False,
            "context_window_tokens": 400_000,
            "parameters": {
                "max_output_tokens": 128_000,
                "thinking_config": {
                    "enabled": True,
                    "effort": "medium",
                },
            },
        },
        {
            "provider": "openai",
            "id": "gpt-5.2-2025-12-11",
            "aliases": ["gpt-5.2", "gpt5.2", "gpt52", "gpt-5.2-xhigh"],
            "recommended": False,
            "context_window_tokens": 400_000,
            "parameters": {
                "max_output_tokens": 128_000,
                "thinking_config": {
                    "enabled": True,
                    "effort": "x-high",
                },
            },
        },
        {
            "provider": "openai",
            "id": "gpt-5.4",
            "aliases": ["gpt", "gpt5.4", "gpt54"],
            "recommended": True,
            "context_window_tokens": 1_050_000,
            "parameters": {
                "max_output_tokens": 128_000,
                "thinking_config": {
                    "enabled": True,
                    "effort": "x-high",
                },
            },
        },
        {
            "provider": "openai",
            "id": "gpt-5.4-pro-2026-03-05",
            "aliases": ["gpt-5.4-pro", "gpt5.4-pro", "gpt54-pro"],
            "recommended": False,
            "context_window_tokens": 1_050_000,
            "parameters": {
                "max_output_tokens": 128_000,
                "thinking_config": {
                    "enabled": True,
                    "effort": "x-high",
                },
            },
        },
        {
            "provider": "openai",
            "id": "gpt-5.3-codex",
            "aliases": ["gpt5.3-codex", "gpt53-codex"],
            "recommended": True,
            "context_window_tokens": 400_000,
            "parameters": {
                "max_output_tokens": 128_000,
                "thinking_config": {
                    "enabled": True,
                    "effort": "x-high",
                },
            },
        },
        {
            "provider": "openai",
            "id": "gpt-5.2-codex",
            "aliases": ["gpt5.2-codex", "gpt52-codex"],
            "recommended": False,
            "context_window_tokens": 400_000,
            "parameters": {
                "max_output_tokens": 128_000,
                "thinking_config": {
                    "enabled": True,
                    "effort": "x-high",
                },
            },
        },
        {
            "provider": "openai",
            "id": "gpt-5.1-codex-max",
            "aliases": ["gpt5.1-codex-max", "gpt51-codex-max"],
            "recommended": False,
            "context_window_tokens": 400_000,
            "parameters": {
                "max_output_tokens": 128_000,
                "thinking_config": {
                    "enabled": True,
                    "effort": "x-high",
                },
            },
        },
        {
            "provider": "google",
            "id": "gemini-3-flash-preview",
            "aliases": ["gemini-flash", "flash"],
            "recommended": True,
            "context_window_tokens": 1_048_576,
            "parameters": {
                "max_output_tokens": 65_536,
            },
        },
        {
            "provider": "google",
            "id": "gemini-3-pro-preview",
            "aliases": ["gemini-pro", "gemini"],
            "recommended": True,
            "context_window_tokens": 1_048_576,
            "parameters": {
                "max_output_tokens": 65_536,
                "thinking_config": {
                    "enabled": True,
                    "include_thoughts": True,
                    "budget_tokens": 8192,
                },
            },
        },
        {
            "provider": "xai",
            "id": "grok-4-1-fast-reasoning",
            "aliases": ["grok-4-1-fast", "grok-4-1", "grok-4", "grok"],
            "recommended": True,
            "context_window_tokens": 256_000,
            "parameters": {
                "max_output_tokens": 32_768,
            },
        },
    ],
}
