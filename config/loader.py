"""Load the shipped default config, overlay a site file, validate once.

Errors are ConfigError and always name the file and the key, e.g.
``site.toml: [gateway] next_hop: next_hop must be host:port, got 'mail'``.
"""
from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from config.schema import DirectorySection, FiltersSection, Settings
from filters.errors import SchoolgateError
from filters.registry import KNOWN_FILTERS, filter_class

SHIPPED_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = SHIPPED_DIR / "schoolgate.toml"
LISTS_DIR = SHIPPED_DIR / "lists"
# filter tables read by more than their filter (see load_settings)
ALWAYS_VALIDATED = ("authentication",)

_CORE_SECTIONS = set(Settings.model_fields) - {"filter_options", "source"}


class ConfigError(SchoolgateError):
    """Configuration problems, one line each naming the file and the key (all of them, not the first)."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 ({exc.reason})") from None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; anything else (lists included) is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _has(data: dict[str, Any], keys: list[str]) -> bool:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return False
        data = data[key]
    return True


def _key(loc: list[Any]) -> str:
    """["notify", "dsl_addresses", 0] -> "[notify] dsl_addresses[0]"."""
    text = f"[{loc[0]}]"
    rest = ""
    for part in loc[1:]:
        rest += f"[{part}]" if isinstance(part, int) else (("." if rest else " ") + str(part))
    return text + rest


def _message(error: dict) -> str:
    if error.get("type") == "extra_forbidden":
        return "unknown key"
    msg = str(error.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg


class _Sources:
    """Which file a key came from: the command line when a flag set it, the site file when it sets
    the key, else the shipped defaults (an error in a shipped value is ours; the line must say so)."""

    def __init__(self, shipped: dict[str, Any], fallbacks: dict[str, Any], site: Path | None,
                 site_data: dict[str, Any], overrides: dict[str, Any]) -> None:
        self.layers = [(overrides, "command line"), (site_data, str(site)), (fallbacks, "command line"),
                       (shipped, str(DEFAULT_CONFIG))]
        self.site = site

    def where(self, loc: list[Any]) -> str:
        keys = [str(p) for p in loc if not isinstance(p, int)][:2]
        for data, name in self.layers:
            if data and _has(data, keys):
                return name
        return str(self.site or DEFAULT_CONFIG)  # a key nobody set: the file being checked

    def line(self, loc: list[Any], msg: str) -> str:
        return f"{self.where(loc)}: {_key(loc)}: {msg}" if loc else f"{self.where(loc)}: {msg}"


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


def _chain_of(core: dict[str, Any], settings: Settings | None) -> list[str]:
    """The chain, even when another section failed validation (so its filters are still checked)."""
    if settings is not None:
        return list(settings.filters.chain)
    try:
        return list(FiltersSection.model_validate(core.get("filters", {})).chain)
    except ValidationError:
        return []


def load_settings(path: Path | str | None = None, *, overrides: dict[str, Any] | None = None,
                  base_dir: Path | None = None, fallbacks: dict[str, Any] | None = None,
                  check_files: bool = False) -> Settings:
    """Shipped defaults, then `fallbacks` (command-line defaults such as --data-dir, used only where
    the site file says nothing), then the site file (only what it changes), then `overrides`
    (command-line flags). Validated once. Every problem found is collected and raised together as
    one ConfigError. check_files: also read the files the settings name (the directory CSV), as
    `serve` and `config check` do before anything else starts."""
    shipped = data = _read_toml(DEFAULT_CONFIG)
    source = None
    site_data: dict[str, Any] = {}
    if fallbacks:
        data = _merge(data, fallbacks)
    if path is not None:
        source = Path(path).resolve()
        site_data = _read_toml(source)
        data = _merge(data, site_data)
    if overrides:
        data = _merge(data, overrides)
    sources = _Sources(shipped, fallbacks or {}, source, site_data, overrides or {})
    root = base_dir or (source.parent if source else Path.cwd())
    problems: list[str] = []

    core = {k: v for k, v in data.items() if k in _CORE_SECTIONS}
    filter_tables = {k: v for k, v in data.items() if k not in _CORE_SECTIONS}
    for key in list(filter_tables):
        if key not in KNOWN_FILTERS:
            problems.append(sources.line([key], f"unknown section (known filters: "
                                                f"{', '.join(sorted(KNOWN_FILTERS))})"))
            del filter_tables[key]
        elif not isinstance(filter_tables[key], dict):
            problems.append(sources.line([key], "must be a table"))
            del filter_tables[key]
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(core)
    except ValidationError as exc:
        problems.extend(sources.line(list(e.get("loc", ())), _message(e)) for e in exc.errors())
    chain = _chain_of(core, settings)
    for name in chain:
        if name not in KNOWN_FILTERS:
            problems.append(sources.line(["filters", "chain"], f"unknown filter {name!r} "
                                         f"(known: {', '.join(sorted(KNOWN_FILTERS))})"))
    if len(set(chain)) != len(chain):
        problems.append(sources.line(["filters", "chain"], "a filter is listed twice"))
    options: dict[str, Any] = {}
    # [authentication] also configures outbound DKIM signing, which runs whether or
    # not the inbound filter is chained: its options are always validated.
    always = [n for n in ALWAYS_VALIDATED if n not in chain]
    for name in dict.fromkeys([*chain, *always]):
        if name not in KNOWN_FILTERS:
            continue
        try:
            options_cls = getattr(filter_class(name), "Options")
            opts = options_cls.model_validate(filter_tables.get(name, {}))
        except ValidationError as exc:
            problems.extend(sources.line([name, *e.get("loc", ())], _message(e)) for e in exc.errors())
            continue
        except Exception as exc:  # an import or a validator's own error: still one line, not a traceback
            problems.append(sources.line(["filters", "chain"], f"filter {name!r} cannot be loaded: "
                                         f"{type(exc).__name__}: {exc}"))
            continue
        _resolve_paths(opts, root)
        options[name] = opts
    if settings is not None:
        from filters.tenancy import problems as tenancy_problems  # [[schools]]: docs/trust.md
        problems.extend(sources.line(loc, msg) for loc, msg in tenancy_problems(settings))
        _resolve_paths(settings, root)
        object.__setattr__(settings, "filter_options", options)
        object.__setattr__(settings, "source", source)
    if check_files:  # even when another section failed: every problem in one run
        problems.extend(sources.line(["directory", "csv"], p) for p in _check_directory(core, settings, root))
        if settings is not None:  # each school's own CSV ([[schools]] directory, docs/trust.md)
            from filters.directory import check_directory_csv
            problems.extend(sources.line(["schools", i, "directory"], p) for i, s in enumerate(settings.schools)
                            if s.directory is not None for p in check_directory_csv(s.directory))
    if problems:
        raise ConfigError(problems)
    assert settings is not None
    return settings


def _check_directory(core: dict[str, Any], settings: Settings | None, root: Path) -> list[str]:
    from filters.directory import check_directory_csv

    if settings is not None:
        directory = settings.directory
    else:
        try:
            directory = DirectorySection.model_validate(core.get("directory", {}))
        except ValidationError:
            return []  # already reported with the rest of the schema
        _resolve_paths(directory, root)
    return [] if directory.csv is None else check_directory_csv(directory.csv)


def store_location(settings: Settings) -> str:
    """Where the quarantine lives, as `config show`, `--verbose` and the start line say it."""
    if settings.quarantine.database_url:
        return f"{masked_url(settings.quarantine.database_url)} (held mail under {settings.quarantine.path})"
    return str(settings.quarantine.path)


def masked_url(url: str) -> str:
    """A database URL fit to print: the credentials replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return f"{scheme}{sep}{rest}"


# -- the command line's view of the same ------------------------------------------------------
def add_config_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """--config, --data-dir and --verbose, the same on every command that reads the settings."""
    parser.add_argument("--config", metavar="FILE",
                        help="site config (TOML); default $SCHOOLGATE_CONFIG, else the shipped defaults")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="keep the quarantine under DIR/quarantine unless the config sets [quarantine] path")
    parser.add_argument("-v", "--verbose", action="store_true", help="say which store is used; debug logging")
    return parser


def settings_from_args(args: argparse.Namespace, *, overrides: dict[str, Any] | None = None,
                       check_files: bool = False) -> Settings:
    """The settings every command uses, so `serve` and the CLI always agree on the store:
    a site file's [quarantine] path wins over --data-dir, which only fills in when it is unset."""
    path = getattr(args, "config", None) or os.environ.get("SCHOOLGATE_CONFIG") or None
    fallbacks: dict[str, Any] = {}
    data_dir = getattr(args, "data_dir", None)
    if data_dir:
        fallbacks = {"quarantine": {"path": str(Path(data_dir).resolve() / "quarantine")}}
    return load_settings(path, overrides=overrides, fallbacks=fallbacks, check_files=check_files)
