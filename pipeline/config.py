"""The installation: its home folders (``GJJ_HOME``) and the centre's configuration, one YAML file read
into frozen dataclasses."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.policy import KindPolicy, Policy

DEFAULT_CONFIG = Path(__file__).resolve().parent / "centre.yaml"  # package data: found in a wheel install too


@dataclass(frozen=True)
class CollectionAccount:
    account_name: str
    bank_name: str
    account_number: str
    bank_code: str


@dataclass(frozen=True)
class Limits:
    """What a unit's file may be. The zip limits have defaults, so an older ``centre.yaml`` still loads."""

    max_file_bytes: int
    max_rows: int
    max_cell_chars: int
    #: A zip entry (an xlsx part, a zip drop's template or scan) above 1 MB may not inflate more than this.
    max_zip_ratio: int = 100
    #: A zip drop (template + scans): the zip's own size, and the sum of its entries' sizes.
    max_bundle_bytes: int = 104857600
    #: One scan of a zip drop, and the scans in one zip (SPEC.md: ≤ 10 MB each, ≤ 50 per zip).
    max_scan_bytes: int = 10485760
    max_scans: int = 50


@dataclass(frozen=True)
class CentreConfig:
    centre_name: str
    serial_channel: str
    collection_account: CollectionAccount
    rounding: str
    ratio_min: Decimal
    ratio_max: Decimal
    base_floor: Decimal
    base_cap: Decimal
    counter_threshold: Decimal
    base_adjust_once_per_year: bool
    base_adjust_year: str
    cross_year_backpay: str
    sealed_unit: str
    reasons: dict[str, tuple[str, ...]]
    row_errors: str
    limits: Limits
    settle_seconds: float
    #: The documents-and-approval policy per kind (:mod:`pipeline.policy`; ``policy: light`` by default).
    policy: Policy

    def reasons_for(self, kind: str) -> tuple[str, ...]:
        return self.reasons.get(kind, ())

    def policy_for(self, kind: str | None) -> KindPolicy:
        """What ``kind`` needs under the centre's policy (nothing, applied at once, when it names no such kind)."""
        return self.policy.of(kind)

    @property
    def counter_threshold_text(self) -> str:
        """The counter threshold as the centre's documents write it: 0.20 → "20%"."""
        return f"{(self.counter_threshold * 100).normalize():f}%"

    @property
    def accept_valid_rows(self) -> bool:
        return self.row_errors == "accept_valid"


def _decimal(raw: dict[str, Any], *keys: str) -> Decimal:
    value: Any = raw
    for key in keys:
        value = value[key]
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ConfigError(f"配置项 {'.'.join(keys)} 不是数字：{value!r}") from exc


def _choice(raw: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = str(raw[key])
    if value not in allowed:
        raise ConfigError(f"配置项 {key} 只能是 {'/'.join(allowed)}，而不是 {value!r}")
    return value


def parse_config(raw: dict[str, Any]) -> CentreConfig:
    from pipeline.policy import parse_policy  # pydantic: read with the configuration, not for ``gjj --help``

    try:
        reasons = {str(k): tuple(str(x) for x in v) for k, v in raw["reasons"].items()}
        return CentreConfig(
            centre_name=str(raw["centre"]["name"]),
            serial_channel=str(raw["centre"]["serial_channel"]).zfill(2),
            collection_account=CollectionAccount(**{k: str(v) for k, v in raw["collection_account"].items()}),
            rounding=_choice(raw, "rounding", ("yuan", "fen")),
            ratio_min=_decimal(raw, "ratio_bounds", "min"),
            ratio_max=_decimal(raw, "ratio_bounds", "max"),
            base_floor=_decimal(raw, "base", "floor"),
            base_cap=_decimal(raw, "base", "cap"),
            counter_threshold=_decimal(raw, "counter_threshold"),
            base_adjust_once_per_year=bool(raw["base_adjust_once_per_year"]),
            base_adjust_year=_choice(raw, "base_adjust_year", ("calendar", "deposit_year")),
            cross_year_backpay=_choice(raw, "cross_year_backpay", ("counter", "allow")),
            sealed_unit=str(raw["sealed_unit"]),
            reasons=reasons,
            row_errors=_choice(raw, "row_errors", ("reject_file", "accept_valid")),
            limits=Limits(**{k: int(v) for k, v in raw["limits"].items()}),
            settle_seconds=float(raw["settle_seconds"]),
            policy=parse_policy(raw.get("policy"), reasons),
        )
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"配置文件缺少或写错了配置项：{exc}") from exc


def load_config(path: Path | None = None, home: Path | None = None, **overrides: Any) -> CentreConfig:
    """Read the configuration: ``path``, else ``$GJJ_HOME/config/centre.yaml``, else the default.

    ``overrides`` replace top-level keys of the YAML (tests and the CLI use it).
    """
    if path is None and home is not None and (home / "config" / "centre.yaml").is_file():
        path = home / "config" / "centre.yaml"
    path = path or DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"无法读取配置文件 {path}：{exc}") from exc
    raw.update(overrides)
    return parse_config(raw)


def gjj_home() -> Path:
    return Path(os.environ.get("GJJ_HOME", ".")).resolve()


@dataclass(frozen=True)
class Home:
    """The folders of one installation (``GJJ_HOME``)."""

    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def documents(self) -> Path:
        """Scans of review requests, content-addressed (``<aa>/<sha256>``); never in any outbox."""
        return self.var / "documents"

    def create(self) -> None:
        for folder in (self.inbox, self.outbox, self.archive, self.quarantine, self.var):
            folder.mkdir(parents=True, exist_ok=True)
