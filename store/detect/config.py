"""``proctrail.toml``: what an administrator decides is an alert, in one documented file.

    [detect]
    rules = ["/opt/sigma/rules/windows/process_creation"]   # folders of Sigma rules
    builtin = true                                           # proctrail's own rules
    iocs = ["iocs/hashes.csv"]                               # digest lists
    baselines = ["golden"]                                   # names of stored baselines

    [track]                      # globs on the image path, case-insensitive
    include = []                 # if any: only these processes are matched
    exclude = ['*\\postgres.exe', 'C:\\Program Files\\Backup\\*']
    image_loads = false          # attach Sysmon 7 (a DLL loaded) to its process: volume

    [redact]
    enabled = false
    patterns = ['(--license\\s+)(\\S+)']   # more secrets: (kept prefix)(masked secret)

    [anomalies]                  # which integrity anomalies become findings, how severe
    log_cleared = "high"         # kinds: log_cleared, audit_stopped, clock_changed,
    audit_stopped = "high"       # clock_jump, record_gap, and the process flags
    clock_changed = "medium"     # parent_mismatch, start_missing, end_missing, pid_reused;
    clock_jump = "medium"        # "off" turns one off
    record_gap = "low"           # checksum_mismatch (off unless set) names a damaged chunk
    parent_mismatch = "medium"

Paths are relative to the file. Command-line options add to what the file says.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from proctrail.store.errors import UsageError
from proctrail.store.images import norm_image

DEFAULT_ANOMALIES = {"log_cleared": "high", "audit_stopped": "high", "clock_changed": "medium",
                     "clock_jump": "medium", "record_gap": "low", "parent_mismatch": "medium"}
LOG_ANOMALIES = ("log_cleared", "audit_stopped", "clock_changed", "clock_jump", "record_gap",
                 "time_offset", "unplaced_event", "checksum_mismatch")
# Routine flags (before_log, after_log, user_changed_*: store/correlate/signal.py) are
# never findings: a process that started before the log is not a problem of that process.
PROCESS_FLAGS = ("parent_mismatch", "start_missing", "end_missing", "pid_reused")
SEVERITIES = ("info", "low", "medium", "high", "critical", "off")


class ConfigError(UsageError):
    """A config file that cannot be used: one line naming the file and the problem."""


@dataclass
class Config:
    """The settings of one case (defaults when there is no file)."""

    rules: list[Path] = field(default_factory=list)
    builtin: bool = True
    iocs: list[Path] = field(default_factory=list)
    baselines: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    image_loads: bool = False  # correlation attaches Sysmon 7 ([track] image_loads)
    redact: bool = False
    redact_patterns: list[str] = field(default_factory=list)
    anomalies: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ANOMALIES))

    def tracked(self, image: str) -> bool:
        """Whether a process with this image is matched (track/ignore lists)."""
        path = norm_image(image)
        if self.include and not any(fnmatch.fnmatchcase(path, g) for g in self._include):
            return False
        return not any(fnmatch.fnmatchcase(path, g) for g in self._exclude)

    @property
    def track_filter(self) -> Callable[[str], bool] | None:
        """:meth:`tracked`, or None when no list is set (everything is kept)."""
        return self.tracked if self.include or self.exclude else None

    def __post_init__(self) -> None:
        self._include = [norm_image(g) for g in self.include]
        self._exclude = [norm_image(g) for g in self.exclude]


def load_config(path: Path | None) -> Config:
    """The config at ``path``, or ``./proctrail.toml`` if it exists, or the defaults."""
    if path is None:
        path = Path("proctrail.toml")
        if not path.is_file():
            return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    base = path.resolve().parent
    detect = data.get("detect", {})
    track = data.get("track", {})
    redact = data.get("redact", {})
    anomalies = dict(DEFAULT_ANOMALIES)
    for kind, severity in data.get("anomalies", {}).items():
        if kind not in (*LOG_ANOMALIES, *PROCESS_FLAGS):
            raise ConfigError(f"{path}: [anomalies] {kind}: unknown; use one of "
                              f"{', '.join((*LOG_ANOMALIES, *PROCESS_FLAGS))}")
        if severity not in SEVERITIES:
            raise ConfigError(f"{path}: [anomalies] {kind} = {severity!r}: use one of "
                              f"{', '.join(SEVERITIES)}")
        anomalies[kind] = severity
    try:
        return Config(
            rules=[base / p for p in detect.get("rules", [])],
            builtin=bool(detect.get("builtin", True)),
            iocs=[base / p for p in detect.get("iocs", [])],
            baselines=[str(b) for b in detect.get("baselines", [])],
            include=[str(g) for g in track.get("include", [])],
            exclude=[str(g) for g in track.get("exclude", [])],
            image_loads=_flag(track.get("image_loads", False), path, "[track] image_loads"),
            redact=bool(redact.get("enabled", False)),
            redact_patterns=[str(p) for p in redact.get("patterns", [])],
            anomalies={k: v for k, v in anomalies.items() if v != "off"})
    except TypeError as exc:
        raise ConfigError(f"{path}: a setting has the wrong type: {exc}") from exc


def _flag(value: object, path: Path, name: str) -> bool:
    """A true/false setting, refused with its name when it is anything else."""
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: {name} = {value!r}: use true or false")
    return value
