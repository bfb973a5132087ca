"""Saved logins: named profiles (server URL and API key) in the user's config directory.

The file is `$XDG_CONFIG_HOME/runqy/credentials.json` (default `~/.config/runqy/`), mode 0600
in a 0700 directory, shaped like the Go CLI's: `{"servers": {name: {"url", "api_key"}},
"current": name}`. It is rewritten whole through a private temporary file, so a crash never
leaves half a file and the key is never readable by others, even for a moment.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from runqy.operator.errors import OperatorError


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "runqy" / "credentials.json"


@dataclass
class Profile:
    name: str
    url: str
    api_key: str


@dataclass
class Profiles:
    servers: dict[str, Profile] = field(default_factory=dict)
    current: str | None = None

    @classmethod
    def load(cls) -> Profiles:
        path = credentials_path()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise OperatorError(f"cannot read saved logins in {path}: {exc}") from None
        servers = {name: Profile(name, str(entry.get("url", "")), str(entry.get("api_key", "")))
                   for name, entry in (raw.get("servers") or {}).items()
                   if isinstance(entry, dict)}
        current = raw.get("current") or None
        return cls(servers, current if current in servers else None)

    def save(self) -> Path:
        path = credentials_path()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        body = {"servers": {name: {"url": p.url, "api_key": p.api_key}
                            for name, p in sorted(self.servers.items())},
                "current": self.current or ""}
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(body, handle, indent=2)
            handle.write("\n")
        os.replace(temporary, path)
        return path

    def active(self) -> Profile | None:
        return self.servers.get(self.current) if self.current else None

    def named(self, name: str) -> Profile:
        try:
            return self.servers[name]
        except KeyError:
            known = ", ".join(sorted(self.servers)) or "none saved; use `runqy login URL`"
            raise OperatorError(f"no saved login named '{name}' (known: {known})") from None
