"""Package structure: layers, exports and what a bare import loads (STYLE.md 2.1, 2.5, 2.8)."""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Dict, List, Set

import pytest
from _outside import need_shared

import steer_sync

PACKAGE = Path(steer_sync.__file__).resolve().parent

#: STYLE.md 2.1: each module's layer; a module may import only its own layer or below.
LAYERS: Dict[str, int] = {
    "_errors": 0,
    "_stream_errors": 0,
    "_cancellation": 0,
    "_types": 0,
    "_chunks": 0,
    "_timeouts": 0,
    "_events": 0,
    "_version": 0,
    "_validate": 0,
    "_sse": 1,
    "_transport": 1,  # the package and each of its modules
    "_retry": 1,
    "_ratelimit": 1,
    "_stream": 1,
    "_provider": 1,
    "_providers": 2,
    "_catalog": 2,
    "_auth": 2,
    "_factory": 2,
    "_client": 3,
    "_attempts": 3,
    "_call_options": 3,
    "_listeners": 3,
    "_provider_cache": 3,
    "_observe": 3,
    "__init__": 4,
    "__main__": 4,
    "_cli": 4,
    "testing": 4,
    "contrib": 4,
}


def _modules() -> List[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _layer_of(module: str) -> int:
    parts = module.split(".")
    head = parts[1] if len(parts) > 1 else "__init__"
    return LAYERS[head]


def _imports(path: Path) -> Set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "steer_sync" or name.startswith("steer_sync.")}


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(relative.parts)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_point_down(path: Path) -> None:
    module = _module_name(path)
    layer = _layer_of(module)
    for imported in _imports(path):
        if imported == "steer_sync":
            assert layer == 4, f"{module} imports the package front door"
            continue
        assert _layer_of(imported) <= layer, f"{module} (L{layer}) imports {imported} (L{_layer_of(imported)})"
        if layer < 4:  # library modules never import a front door
            for front_door in ("steer_sync.testing", "steer_sync._cli"):
                assert imported != front_door and not imported.startswith(front_door + "."), (
                    f"{module} imports {imported}"
                )


def test_providers_do_not_import_each_other() -> None:
    # One folder per wire format (STYLE.md 2.9); shared helpers sit beside them as _*.py modules.
    root = PACKAGE / "_providers"
    formats = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert formats == {"anthropic", "gemini", "openai_chat", "openai_responses"}
    for path in root.rglob("*.py"):
        own = path.relative_to(root).parts[0]
        for imported in _imports(path):
            parts = imported.split(".")
            if parts[:2] != ["steer_sync", "_providers"] or len(parts) < 3:
                continue
            other = parts[2]
            assert other == own or other not in formats, f"{path.relative_to(root)} imports {imported}"
            if own not in formats:  # a shared helper imports no format at all
                assert other not in formats, f"{path.relative_to(root)} imports {imported}"


def test_no_provider_module_is_over_600_lines() -> None:
    for path in (PACKAGE / "_providers").rglob("*.py"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 600, f"{path.relative_to(PACKAGE)} has {lines} lines; split it by job"


#: STYLE.md 2.1, rules within a layer: modules under a prefix never import modules under another.
#: Prefixes of module names, so ``steer_sync._transport`` matches a module and a package alike.
SAME_LAYER_FORBIDDEN: Dict[str, str] = {
    "steer_sync._catalog": "steer_sync._providers",
    "steer_sync._auth": "steer_sync._providers",
    "steer_sync._transport": "steer_sync._providers",
}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _all_imports(path: Path) -> Set[str]:
    """Every steer_sync module ``path`` imports, relative imports resolved (``_imports`` skips them)."""
    package = _module_name(path).split(".")[:-1]  # the package a relative import starts from
    found = set(_imports(path))
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = package[: len(package) - node.level + 1]
            found.add(".".join(base + ([node.module] if node.module else [])))
            found.update(".".join([*base, alias.name]) for alias in node.names if not node.module)
    return found


@pytest.mark.parametrize("importer", sorted(SAME_LAYER_FORBIDDEN))
def test_same_layer_modules_keep_apart(importer: str) -> None:
    forbidden = SAME_LAYER_FORBIDDEN[importer]
    paths = [path for path in _modules() if _under(_module_name(path), importer)]
    assert paths, f"no module matches {importer}: update SAME_LAYER_FORBIDDEN"
    for path in paths:
        for imported in _all_imports(path):
            assert not _under(imported, forbidden), f"{_module_name(path)} imports {imported}"


def test_all_is_sorted_complete_and_resolves() -> None:
    exported = steer_sync.__all__
    assert exported == sorted(exported)
    for name in exported:
        assert getattr(steer_sync, name) is not None
    public = {
        name
        for name in dir(steer_sync)
        if not name.startswith("_") and not isinstance(getattr(steer_sync, name), types.ModuleType)
    }
    assert public == set(exported)


def test_every_name_in_api_md_is_exported() -> None:
    text = need_shared("API.md").read_text(encoding="utf-8")  # the contract lives beside the checkout
    candidates = set(re.findall(r"`([A-Z][A-Za-z]+)`", text)) | set(re.findall(r"\b([A-Z][a-zA-Z]+)\(", text))
    ignored = {"None", "True", "False"}
    # Names API.md places in an optional front door (`steer_sync.contrib.redis.RedisRateLimiter`)
    # live there, so that `import steer_sync` never needs the framework behind them.
    contrib = dict((name, module) for module, name in re.findall(r"steer_sync\.contrib\.(\w+)\.([A-Z]\w+)", text))
    missing = sorted(name for name in candidates - ignored - set(contrib) if not hasattr(steer_sync, name))
    assert missing == []
    for name, module in contrib.items():
        assert hasattr(importlib.import_module(f"steer_sync.contrib.{module}"), name), f"steer_sync.contrib.{module}"


def test_a_bare_import_loads_no_http_stack_catalog_or_provider() -> None:
    code = "import json, sys, steer_sync; print(json.dumps(sorted(sys.modules)))"
    loaded = set(
        json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    )
    for heavy in (
        "requests",
        "urllib3",
        "dataclasses_json",
        "marshmallow",
        "tomllib",
        "tomli",
        "steer_sync._transport",
        "steer_sync._catalog",
        "steer_sync._auth",
        "steer_sync._providers",
        "steer_sync.testing",
        "steer_sync._cli",
        "steer_sync.contrib",
        "django",
    ):
        assert not any(name == heavy or name.startswith(heavy + ".") for name in loaded), heavy


def test_timeouts_and_retry_policy_load_no_http_stack() -> None:
    code = (
        "import json, sys\n"
        "from steer_sync import RetryPolicy, Timeouts\n"
        "RetryPolicy(base_delay=0), Timeouts(read=1)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = set(
        json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    )
    for heavy in ("requests", "urllib3", "steer_sync._transport"):
        assert not any(name == heavy or name.startswith(heavy + ".") for name in loaded), heavy


#: Words that name a provider or its wire format; none may appear in the transport's code.
PROVIDER_WORDS = ("anthropic", "claude", "openai", "gemini", "google", "xai", "grok")


def _code_strings(tree: ast.AST) -> List[str]:
    """String constants of a module that are not docstrings."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


@pytest.mark.parametrize(
    "path", sorted((PACKAGE / "_transport").rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_the_transport_knows_no_provider(path: Path) -> None:
    assert _layer_of(_module_name(path)) == 1
    for imported in _imports(path):
        assert not imported.startswith(("steer_sync._providers", "steer_sync._catalog", "steer_sync._auth")), imported
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = [node.id for node in ast.walk(tree) if isinstance(node, ast.Name)]
    for text in _code_strings(tree) + names:
        for word in PROVIDER_WORDS:
            assert word not in text.lower(), f"{path.name} names a provider: {text!r}"


def test_from_env_reads_no_key_until_a_call_needs_one(tmp_path: Path) -> None:
    code = (
        "import steer_sync\n"
        "client = steer_sync.Client.from_env(discover_catalogs=False)\n"
        "try:\n"
        "    client.complete('anthropic/claude-sonnet-4-5', [steer_sync.Message.user('hi')])\n"
        "except steer_sync.ConfigurationError as e:\n"
        "    print(e)\n"
    )
    env = {"PATH": "", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert "ANTHROPIC_API_KEY" in result.stdout


def _runtime_imports(path: Path) -> Set[str]:
    """Like :func:`_imports`, without the imports under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    found: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_transport_modules_import_only_the_ones_listed_before_them() -> None:
    package = PACKAGE / "_transport"
    order = re.findall(r"^``(_\w+)``", (package / "__init__.py").read_text(encoding="utf-8"), re.MULTILINE)
    assert sorted(order) == sorted(p.stem for p in package.glob("_*.py") if p.stem != "__init__")
    for index, name in enumerate(order):
        for imported in _runtime_imports(package / f"{name}.py"):
            if imported.startswith("steer_sync._transport."):
                assert imported.rsplit(".", 1)[1] in order[:index], f"{name} imports {imported}"
