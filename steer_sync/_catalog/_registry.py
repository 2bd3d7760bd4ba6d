"""Provider and model registries built from layered catalogs (layer L2).

Both registries are immutable once built and safe to share between threads. They are built
on demand (:meth:`ProviderRegistry.load`, :meth:`ModelRegistry.load` or
:func:`load_registries`, which parses each catalog once for both); nothing is read at import.

Deviation from the spec (API.md wins over core.md 5.5): :meth:`ModelRegistry.resolve`
accepts any model id under a known provider, where "known" means declared by any loaded
catalog, and returns it as given when the catalog does not list it.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

from steer_sync._catalog._configs import ModelConfig, ProviderConfig
from steer_sync._catalog._loader import CatalogPath, ParsedCatalog, collect_catalogs
from steer_sync._errors import ConfigurationError
from steer_sync._types import ModelId, ProviderId

__all__ = ["ModelRegistry", "ProviderRegistry", "load_registries"]


class ProviderRegistry:
    """The providers declared by the loaded catalogs, by id.

    A later catalog that declares an id again replaces the earlier entry wholesale.
    Immutable and thread-safe.

    :param providers: provider configs in merge order (later ones win).
    """

    def __init__(self, providers: Iterable[ProviderConfig] = ()) -> None:
        self._providers: Dict[str, ProviderConfig] = {}
        for config in providers:
            self._providers[str(config.id)] = config

    @classmethod
    def load(
        cls, additional_catalogs: Union[CatalogPath, Sequence[CatalogPath]] = (), *, discover: bool = True
    ) -> ProviderRegistry:
        """Load the built-in catalog, then the discovered and the extra catalogs (core.md 5.4).

        Usage::

            registry = ProviderRegistry.load(["gateway.toml"], discover=False)

        :param additional_catalogs: extra catalog files, merged last in the order given.
        :param discover: whether to read ``./.steer/catalog.toml`` and the user catalog.
        :returns: the registry.
        :raises ConfigurationError: if a catalog cannot be read or parsed, naming the file.
        """
        return cls._from_catalogs(collect_catalogs(additional_catalogs, discover=discover))

    @classmethod
    def empty(cls) -> ProviderRegistry:
        """Return a registry with no providers (for tests and injected setups)."""
        return cls()

    @classmethod
    def _from_catalogs(cls, catalogs: Sequence[ParsedCatalog]) -> ProviderRegistry:
        return cls(config for catalog in catalogs for config in catalog.providers)

    def get(self, provider_id: str) -> Optional[ProviderConfig]:
        """Return the provider with this id, or ``None``.

        :param provider_id: a :class:`ProviderId` or plain string.
        """
        return self._providers.get(str(provider_id))

    def all(self) -> Tuple[ProviderConfig, ...]:
        """Return every provider, in the order first declared."""
        return tuple(self._providers.values())

    def ids(self) -> Tuple[ProviderId, ...]:
        """Return every provider id, in the order first declared."""
        return tuple(config.id for config in self._providers.values())

    def __contains__(self, provider_id: object) -> bool:
        return isinstance(provider_id, str) and str(provider_id) in self._providers

    def __iter__(self) -> Iterator[ProviderConfig]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._providers)

    def __repr__(self) -> str:
        return f"ProviderRegistry({sorted(self._providers)!r})"


class _Entry:
    """A model being layered, with the catalogs that contributed to it (for messages)."""

    # A plain class: a dataclass costs ~0.3 ms to create at import, on every cold start.
    __slots__ = ("config", "sources")

    def __init__(self, config: ModelConfig, sources: List[str]) -> None:
        self.config = config
        self.sources = sources

    def where(self) -> str:
        label = "catalog" if len(self.sources) == 1 else "catalogs"
        return f"{label} {', '.join(self.sources)}: model {self.config.provider}/{self.config.id}"


def _merge_models(base: List[_Entry], catalog: ParsedCatalog) -> None:
    # Indexed before the new catalog is processed (core.md 5.5): two entries for the same
    # model inside one catalog are both appended, and the later one wins when building.
    index = {(str(e.config.provider), e.config.id): i for i, e in enumerate(base)}
    for config in catalog.models:
        position = index.get((str(config.provider), config.id))
        if position is None:
            base.append(_Entry(config, [catalog.source]))
        else:
            entry = base[position]
            entry.config = entry.config.merge_with(config)
            if catalog.source not in entry.sources:
                entry.sources.append(catalog.source)


def _known_list(names: Iterable[str]) -> str:
    listed = sorted(set(names))
    return ", ".join(listed) if listed else "none"


class ModelRegistry:
    """The models of the loaded catalogs, with alias lookup and model-name resolution.

    Immutable and thread-safe.

    :param models: model configs in merge order (a later config for the same model wins).
    :param known_providers: provider ids that :meth:`resolve` accepts besides those of
        ``models`` (the providers declared by the catalogs).
    :raises ConfigurationError: if an alias is empty or used by two models, or a display
        name is blank or used twice under one provider.
    """

    def __init__(self, models: Iterable[ModelConfig] = (), *, known_providers: Iterable[str] = ()) -> None:
        entries = [_Entry(config, ["<given>"]) for config in models]
        self._build(entries, known_providers)

    @classmethod
    def load(
        cls, additional_catalogs: Union[CatalogPath, Sequence[CatalogPath]] = (), *, discover: bool = True
    ) -> ModelRegistry:
        """Load and layer the built-in, discovered and extra catalogs (core.md 5.5).

        Usage::

            models = ModelRegistry.load(discover=False)
            models.resolve("sonnet")        # ModelId('anthropic', 'claude-sonnet-4-5')

        :param additional_catalogs: extra catalog files, merged last in the order given.
        :param discover: whether to read ``./.steer/catalog.toml`` and the user catalog.
        :returns: the registry.
        :raises ConfigurationError: naming the file and the entry, if a catalog cannot be
            read or parsed or the layered models break a rule.
        """
        return cls._from_catalogs(collect_catalogs(additional_catalogs, discover=discover))

    @classmethod
    def empty(cls) -> ModelRegistry:
        """Return a registry with no models and no known providers."""
        return cls()

    @classmethod
    def _from_catalogs(cls, catalogs: Sequence[ParsedCatalog]) -> ModelRegistry:
        known: Set[str] = set()
        entries: List[_Entry] = []
        for catalog in catalogs:
            known.update(str(p.id) for p in catalog.providers)
            _merge_models(entries, catalog)
        for entry in entries:
            config = entry.config
            if str(config.provider) not in known:
                raise ConfigurationError(
                    str(config.provider),
                    f"{entry.where()}: Model '{config.id}' references unknown provider '{config.provider}' "
                    f"(declared providers: {_known_list(known)})",
                )
            if config.parameters is None or config.parameters.max_output_tokens is None:
                raise ConfigurationError(
                    str(config.provider),
                    f"{entry.where()}: Model '{config.id}' is missing required parameters.max_output_tokens",
                )
        registry = cls.__new__(cls)
        registry._build(entries, known)
        return registry

    def _build(self, entries: Sequence[_Entry], known_providers: Iterable[str]) -> None:
        models: Dict[ModelId, ModelConfig] = {}
        where: Dict[ModelId, _Entry] = {}
        aliases: Dict[str, ModelId] = {}
        for entry in entries:
            config = entry.config
            model_id = config.model_id
            for raw in config.aliases:
                alias = raw.strip()
                if not alias:
                    raise ConfigurationError(str(config.provider), f"{entry.where()}: Empty alias found for {model_id}")
                existing = aliases.get(alias)
                if existing is not None and existing != model_id:
                    raise ConfigurationError(
                        str(config.provider),
                        f"{entry.where()}: Duplicate alias '{alias}' used by {existing} and {model_id} "
                        f"({existing} is from {', '.join(where[existing].sources)})",
                    )
                aliases[alias] = model_id
            models[model_id] = config
            where[model_id] = entry
        seen: Dict[str, Set[str]] = {}
        for model_id, config in models.items():
            if config.display_name is None:
                continue
            name = config.display_name.strip()
            if not name:
                raise ConfigurationError(
                    str(config.provider),
                    f"{where[model_id].where()}: Invalid display_name '{config.display_name}' for {model_id}",
                )
            names = seen.setdefault(str(config.provider), set())
            if name in names:
                raise ConfigurationError(
                    str(config.provider),
                    f"{where[model_id].where()}: Duplicate display_name '{name}' for provider {config.provider}",
                )
            names.add(name)
        self._models = models
        self._aliases = aliases
        self._providers: FrozenSet[ProviderId] = frozenset(m.provider for m in models)
        self._known: FrozenSet[ProviderId] = frozenset([ProviderId(p) for p in known_providers] + list(self._providers))

    # --- queries ---------------------------------------------------------------------------

    def get(self, model_id: ModelId) -> Optional[ModelConfig]:
        """Return the catalog entry for exactly this model, or ``None``."""
        return self._models.get(model_id)

    def by_alias(self, alias: str) -> Optional[ModelConfig]:
        """Return the model an alias names (exact match, not stripped), or ``None``."""
        model_id = self._aliases.get(alias)
        return self._models.get(model_id) if model_id is not None else None

    def recommended(self) -> Tuple[ModelConfig, ...]:
        """Return the recommended models, in catalog order."""
        return tuple(m for m in self._models.values() if m.recommended)

    def all(self) -> Tuple[ModelConfig, ...]:
        """Return every model, in catalog order."""
        return tuple(self._models.values())

    @property
    def providers(self) -> FrozenSet[ProviderId]:
        """The providers that have at least one model."""
        return self._providers

    @property
    def known_providers(self) -> FrozenSet[ProviderId]:
        """The providers :meth:`resolve` accepts: declared by a catalog or owning a model."""
        return self._known

    def aliases(self) -> Dict[str, ModelId]:
        """Return a copy of the alias table."""
        return dict(self._aliases)

    def __len__(self) -> int:
        return len(self._models)

    def __repr__(self) -> str:
        return f"ModelRegistry({len(self._models)} models, providers={sorted(str(p) for p in self._known)!r})"

    def resolve(self, text: str) -> ModelId:
        """Turn ``"provider/model-id"``, ``"provider/alias"`` or ``"alias"`` into a :class:`ModelId`.

        With a ``/`` the text is split at the first one (model ids may contain ``/``). The
        provider must be known; then an exact catalog model id, then an alias of that
        provider, and otherwise the id is returned as given (a model the catalog does not
        list yet). Without a ``/`` only aliases resolve; display names never do.

        :param text: what the user typed.
        :returns: the model id.
        :raises ConfigurationError: for an unknown provider or alias, naming the known ones.
        """
        stripped = text.strip()
        if not stripped:
            raise ConfigurationError(None, "Model name cannot be empty")
        if "/" in stripped:
            provider_text, _, rest = stripped.partition("/")
            provider = ProviderId(provider_text.strip())
            if provider not in self._known:
                raise ConfigurationError(str(provider), _unknown_provider_message(str(provider), self._known))
            part = rest.strip()
            if not part:
                raise ConfigurationError(str(provider), "Model name cannot be empty")
            candidate = ModelId(provider, part)
            if candidate in self._models:
                return candidate
            aliased = self._aliases.get(part)
            if aliased is not None and aliased.provider == provider:
                return aliased
            return candidate
        aliased = self._aliases.get(stripped)
        if aliased is not None:
            return aliased
        raise ConfigurationError(None, self._unknown_alias_message(text, stripped))

    def _unknown_alias_message(self, text: str, stripped: str) -> str:
        import difflib  # error path only; kept off the import path (STYLE 2.8)

        suggestions: List[str] = [str(m) for m in self._models if m.id == stripped]
        choices = list(self._aliases) + [m.id for m in self._models]
        for match in difflib.get_close_matches(stripped, choices, n=3, cutoff=0.6):
            suggestion = match if match in self._aliases else next(str(m) for m in self._models if m.id == match)
            if suggestion not in suggestions:
                suggestions.append(suggestion)
        # Separate sentences, and a pointer to the listing rather than every alias:
        # the catalog has dozens and the suggestion is what the user needs.
        message = f"Unknown model or alias: {text}."
        if suggestions:
            message += " Did you mean " + " or ".join(f"'{s}'" for s in suggestions) + "?"
        return (
            f"{message} Use 'provider/model-id' for any model of a known provider "
            f"({_known_list(self._known)}), or run 'steer-sync models' to list the aliases."
        )


def _unknown_provider_message(provider: str, known: Iterable[str]) -> str:
    """The unknown-provider message: a close match first, then the known ones (a short list)."""
    import difflib  # error path only; kept off the import path (STYLE 2.8)

    listed = sorted(set(known))
    message = f"Unknown provider: {provider}."
    matches = difflib.get_close_matches(provider, listed, n=2, cutoff=0.6)
    if matches:
        message += " Did you mean " + " or ".join(f"'{m}'" for m in matches) + "?"
    return f"{message} Known providers: {', '.join(listed) if listed else 'none'}."


def load_registries(
    additional_catalogs: Union[CatalogPath, Sequence[CatalogPath]] = (), *, discover: bool = True
) -> Tuple[ProviderRegistry, ModelRegistry]:
    """Load both registries, reading and parsing each catalog file once.

    :param additional_catalogs: extra catalog files, merged last in the order given.
    :param discover: whether to read ``./.steer/catalog.toml`` and the user catalog.
    :returns: ``(providers, models)``.
    :raises ConfigurationError: as :meth:`ModelRegistry.load`.
    """
    catalogs = collect_catalogs(additional_catalogs, discover=discover)
    return ProviderRegistry._from_catalogs(catalogs), ModelRegistry._from_catalogs(catalogs)
