"""Provider implementations, one folder per wire format (layer L2).

Importing this package loads no provider: the factory imports each module on first use,
so ``import steer_sync`` stays cheap. Shared helpers live in :mod:`._common` (and the
Chat Completions ones in :mod:`.openai_chat`).
"""
