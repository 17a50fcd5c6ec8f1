"""``gjj init --profile NAME``: the centre's documents-and-approval policy written into ``$GJJ_HOME/config/centre.yaml``.

The file is the installation's own configuration: made from the packaged default when there is
none, else only its ``policy`` block is replaced (the centre's other settings and comments stay).
The new text is read back as a configuration before it replaces the old one (temporary file +
``os.replace``), so a broken file is never left behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from pipeline.config import DEFAULT_CONFIG, parse_config
from pipeline.errors import ConfigError
from pipeline.policy import with_profile


def install_profile(root: Path, name: str) -> Path:
    """Write profile ``name`` into ``root/config/centre.yaml``; the file's path. ConfigError when the
    profile is unknown or the file, with it, is not a valid configuration."""
    target = root / "config" / "centre.yaml"
    current = target.read_text(encoding="utf-8") if target.is_file() else DEFAULT_CONFIG.read_text(encoding="utf-8")
    text = with_profile(current, name)
    try:
        parse_config(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{target} 写入方案后不是有效的 YAML：{exc}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target
