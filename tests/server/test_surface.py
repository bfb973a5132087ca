"""The documented surface: route table vs OpenAPI vs URL map, and `runqy serve --help`."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from runqy.cli import main

DESIGN = Path("/work/shared/design/http-api.md")
REPO_DOC = Path(__file__).resolve().parents[2] / "docs" / "http-api.md"


def _contract() -> str:
    for path in (REPO_DOC, DESIGN):
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise AssertionError("http-api.md not found")


def _section(text: str, number: int) -> str:
    start = text.index(f"\n## {number}. ")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def _normalize(path: str) -> str:
    return re.sub(r"[<{][^>}]+[>}]", "{}", path)


def documented_pairs() -> set[tuple[str, str]]:
    pairs = set()
    for match in re.finditer(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|",
                             _section(_contract(), 4), re.MULTILINE):
        pairs.add((match.group(1), _normalize(match.group(2))))
    return pairs


def test_route_table_openapi_and_url_map_agree(app):
    documented = documented_pairs()
    assert len(documented) == 47
    spec = app.test_client().get("/openapi.json").json
    in_openapi = {(method.upper(), _normalize(path))
                  for path, ops in spec["paths"].items() for method in ops}
    in_url_map = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith("/monitoring"):
            continue
        if rule.endpoint.startswith("go."):  # the Go CLI's aliases: section 13, not section 4
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            in_url_map.add((method, _normalize(rule.rule)))
    assert in_openapi == documented
    assert in_url_map == documented


def test_serve_help_names_every_flag_and_variable_of_section_9():
    table = _section(_contract(), 9)
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    flags, variables = set(), set()
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        names = re.findall(r"`([A-Z_][A-Z0-9_]*)`", cells[0])
        prefix = names[0].split("_", 1)[0]
        variables.update(f"{prefix}{name}" if name.startswith("_") else name for name in names)
        flags.update(re.findall(r"`(--[a-z-]+)[^`]*`", cells[1]))
    result = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    help_flags = set(re.findall(r"(--[a-z][a-z-]+)", result.output)) - {"--help"}
    # --processes (several server processes on one port) is runqy's own addition to the table;
    # its deprecated alias --workers is hidden.
    assert flags | {"--processes"} == help_flags
    help_words = set(re.findall(r"[A-Z][A-Z0-9_]+", result.output))
    assert variables <= help_words, variables - help_words
    assert "DATABASE_DBNAME" in variables and "RUNQY_JWT_SECRET" in variables
