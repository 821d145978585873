"""Load the shipped default config, overlay a site file, validate once.

Errors are ConfigError and always name the file and the key, e.g.
``site.toml: [gateway] next_hop: next_hop must be host:port, got 'mail'``.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from config.schema import Settings
from filters.errors import SchoolgateError
from filters.registry import KNOWN_FILTERS, filter_class

SHIPPED_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = SHIPPED_DIR / "schoolgate.toml"
LISTS_DIR = SHIPPED_DIR / "lists"
# filter tables read by more than their filter (see load_settings)
ALWAYS_VALIDATED = ("authentication",)

_CORE_SECTIONS = set(Settings.model_fields) - {"filter_options", "source"}


class ConfigError(SchoolgateError):
    """A configuration problem, with the file and key in the message."""


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; anything else (lists included) is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: dict, section: str | None = None) -> str:
    loc = [str(p) for p in error.get("loc", ())]
    if section is not None:
        loc = [section, *loc]
    if not loc:
        return error.get("msg", "invalid")
    key = f"[{loc[0]}]" + (" " + ".".join(loc[1:]) if len(loc) > 1 else "")
    msg = error.get("msg", "invalid")
    if error.get("type") == "extra_forbidden":
        msg = "unknown key"
    return f"{key}: {msg}"


def _resolve_paths(model: BaseModel, base_dir: Path) -> None:
    """Relative Path fields are relative to the config file that set them."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path) and not value.is_absolute():
            object.__setattr__(model, name, (base_dir / value).resolve())
        elif isinstance(value, BaseModel):
            _resolve_paths(value, base_dir)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, BaseModel):
                    _resolve_paths(item, base_dir)


def load_settings(path: Path | str | None = None, *, overrides: dict[str, Any] | None = None,
                  base_dir: Path | None = None) -> Settings:
    """Shipped defaults, then the site file (only what it changes), then overrides
    (command-line flags). Validated once; raises ConfigError."""
    data = _read_toml(DEFAULT_CONFIG)
    source = None
    if path is not None:
        source = Path(path).resolve()
        data = _merge(data, _read_toml(source))
    if overrides:
        data = _merge(data, overrides)
    where = str(source or DEFAULT_CONFIG)
    root = base_dir or (source.parent if source else Path.cwd())

    core = {k: v for k, v in data.items() if k in _CORE_SECTIONS}
    filter_tables = {k: v for k, v in data.items() if k not in _CORE_SECTIONS}
    for key in filter_tables:
        if key not in KNOWN_FILTERS:
            raise ConfigError(f"{where}: [{key}]: unknown section (known filters: "
                              f"{', '.join(sorted(KNOWN_FILTERS))})")
        if not isinstance(filter_tables[key], dict):
            raise ConfigError(f"{where}: {key}: must be a table")
    try:
        settings = Settings.model_validate(core)
    except ValidationError as exc:
        raise ConfigError("\n".join(f"{where}: {_describe(e)}" for e in exc.errors())) from None
    for name in settings.filters.chain:
        if name not in KNOWN_FILTERS:
            raise ConfigError(f"{where}: [filters] chain: unknown filter {name!r} "
                              f"(known: {', '.join(sorted(KNOWN_FILTERS))})")
    if len(set(settings.filters.chain)) != len(settings.filters.chain):
        raise ConfigError(f"{where}: [filters] chain: a filter is listed twice")
    options: dict[str, Any] = {}
    # [authentication] also configures outbound DKIM signing, which runs whether or
    # not the inbound filter is chained: its options are always validated.
    always = [n for n in ALWAYS_VALIDATED if n not in settings.filters.chain]
    for name in [*settings.filters.chain, *always]:
        try:
            cls = filter_class(name)
        except ImportError as exc:
            raise ConfigError(f"{where}: [filters] chain: filter {name!r} cannot be loaded: {exc}") from None
        options_cls = getattr(cls, "Options")
        try:
            opts = options_cls.model_validate(filter_tables.get(name, {}))
        except ValidationError as exc:
            raise ConfigError("\n".join(f"{where}: {_describe(e, name)}" for e in exc.errors())) from None
        _resolve_paths(opts, root)
        options[name] = opts
    _resolve_paths(settings, root)
    object.__setattr__(settings, "filter_options", options)
    object.__setattr__(settings, "source", source)
    return settings
