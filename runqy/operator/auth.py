"""`runqy login|logout` and `runqy auth list|use|status`: saved logins (profiles).

A login is checked against the server before it is saved, so a wrong URL or key is refused at
once. Keys are shown only by `auth status --show-key`; everywhere else they are masked.
"""

from __future__ import annotations

from functools import partial

import click

from runqy.config import mask_secret
from runqy.operator.context import OperatorGroup, emit, global_options, options, variable
from runqy.operator.errors import OperatorError
from runqy.operator.output import notice, print_fields, print_table
from runqy.operator.profiles import Profile, Profiles, credentials_path
from runqy.operator.remote import RemoteBackend


@click.command()
@click.argument("url")
@click.option("--name", default="default", show_default=True, help="Name of the saved login.")
@click.option("-k", "--api-key", "login_key", metavar="KEY",
              help="Admin API key (asked for when not given; RUNQY_API_KEY is used if set).")
@partial(global_options, names=("output",))  # its -k is the key to save
def login(url: str, name: str, login_key: str | None) -> None:
    """Check URL and an admin key, save them as a login, and make it the current one."""
    key = login_key or variable("RUNQY_API_KEY")[0] or click.prompt(
        "API key", hide_input=True, err=True)
    system = RemoteBackend(url, key).system()
    profiles = Profiles.load()
    profiles.servers[name] = Profile(name, url.rstrip("/"), key)
    profiles.current = name
    path = profiles.save()
    emit({"name": name, "url": url.rstrip("/"), "version": system.get("version"),
          "credentials_file": str(path)}, lambda data: click.echo(
        f"Logged in to {data['url']} (runqy {data['version']}) as '{name}'; saved in {path}."))


@click.command()
@click.argument("name", required=False)
@global_options
def logout(name: str | None) -> None:
    """Forget the saved login NAME (default: the current one)."""
    profiles = Profiles.load()
    name = name or profiles.current
    if name is None:
        raise OperatorError("no saved login to forget")
    profiles.named(name)
    del profiles.servers[name]
    if profiles.current == name:
        profiles.current = min(profiles.servers) if profiles.servers else None
    profiles.save()
    emit({"removed": name, "current": profiles.current}, lambda data: click.echo(
        f"Forgot '{name}'." + (f" Current login: '{data['current']}'." if data["current"]
                               else " No saved login left.")))


@click.group(cls=OperatorGroup)
def auth() -> None:
    """Saved logins: list them, switch, and show which one is used."""


@auth.command("list")
def list_profiles() -> None:
    """Every saved login (keys masked)."""
    profiles = Profiles.load()
    data = {"current": profiles.current, "profiles": [
        {"name": p.name, "url": p.url, "api_key": mask_secret(p.api_key),
         "current": p.name == profiles.current} for p in
        sorted(profiles.servers.values(), key=lambda p: p.name)]}
    emit(data, lambda d: print_table(
        ["NAME", "URL", "API_KEY", "CURRENT"],
        [[p["name"], p["url"], p["api_key"], "*" if p["current"] else ""]
         for p in d["profiles"]], "No saved logins; use `runqy login URL`."))


@auth.command("use")
@click.argument("name")
def use(name: str) -> None:
    """Make the saved login NAME the current one."""
    profiles = Profiles.load()
    profile = profiles.named(name)
    profiles.current = name
    profiles.save()
    emit({"current": name, "url": profile.url},
         lambda d: click.echo(f"Now using '{name}' ({profile.url})."))


@auth.command("status")
@click.option("--show-key", is_flag=True, help="Print the API key in full.")
def status(show_key: bool) -> None:
    """Which server and key commands use, where they come from, and whether the key works."""
    opts = options()
    url, server_source, profile = opts.target()
    key, key_source = opts.key(profile)
    data = {"mode": "remote" if url else "local", "server": url,
            "server_source": server_source, "api_key_source": key_source,
            "api_key": (key if show_key else mask_secret(key)) if key else None,
            "credentials_file": str(credentials_path()), "current": Profiles.load().current}
    if url:
        try:
            data["server_version"] = RemoteBackend(url, key).system().get("version")
            data["authenticated"] = True
        except OperatorError as exc:
            data["authenticated"] = False
            data["problem"] = exc.message
    else:
        notice("runqy: no server given; commands work on the local instance directly")
    emit(data, lambda d: print_fields([
        ("Mode", d["mode"]), ("Server", f"{d['server'] or '-'} (from {d['server_source']})"),
        ("API key", f"{d['api_key'] or '-'} (from {d['api_key_source']})"),
        *([("Server version", d.get("server_version")),
           ("Authenticated", d.get("authenticated"))] if url else []),
        *([("Problem", d["problem"])] if "problem" in d else []),
        ("Saved logins", d["credentials_file"]),
    ]))
