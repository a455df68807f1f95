"""MkDocs hooks: pages made from the code at build time, so that they cannot drift from it.

- ``resources.md``: the resource table of ``runeq_fn.resources`` with each resource's parameters
  and CSV columns (``runeq_fn.resources.known_columns``).
- ``changelog.md``: ``CHANGELOG.md`` from the repository's root.
"""

from __future__ import annotations

import pathlib
import sys

from mkdocs.structure.files import File, Files

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # document this tree's code, installed or not


def code(text: str) -> str:
    """Text as inline code."""
    return f"`{text}`"


def columns_of(name: str) -> str:
    """The CSV columns of a resource's plain query, and of its variants where they differ."""
    from runeq_fn.resources import known_columns

    variants = {"": {}, "severity=*": {"severity": "*"}, "channels=0,1": {"channels": "0,1"}}
    found = []
    for label, query in variants.items():
        columns = known_columns(name, query)
        if columns and (not found or ",".join(columns) != found[0][1]):
            found.append((label, ",".join(columns)))
    if not found:
        return "the fields asked for (`fields`), after `time`" if name == "state" else "none (JSON only)"
    return "; ".join(f"with {code(label)}: {code(cols)}" if label else code(cols) for label, cols in found)


EXAMPLE_VALUES = {"symptom": "tremor"}
"""Values for the parameters a resource requires, in the examples."""


def example(r) -> str:
    """A command line that pulls a little of a resource from the emulator into a file, and shows its start."""
    own = [name for name, meaning in r.parameters if "(required)" in meaning]
    day = ("2021-01-01", "2021-01-02") if r.name in ("event", "span") else ("2021-01-01T09:00:00Z", "2021-01-01T09:00:01Z")
    fmt = "csv" if "csv" in r.formats else "jsonl"
    flags = "".join(f" --{name.replace('_', '-')} {EXAMPLE_VALUES[name]}" for name in own)
    return (
        f"```sh\nruneq fetch {r.name} --emulator --patient-id patient-1 --device-id watch-1{flags} \\\n"
        f"    --start-time {day[0]} --end-time {day[1]} --format {fmt} --output {r.name}.{fmt}\n"
        f"head -3 {r.name}.{fmt}\n```"
    )


def resources_page() -> str:
    """The Markdown of the resources page."""
    from runeq_fn.resources import COMMON_PARAMETERS, RESOURCES

    lines = [
        "# Resources and their parameters",
        "",
        "Made from the resource table in `runeq_fn/resources.py` each time the site is built.",
        "Every data call is a GET of `/v1/<resource>.json` or `/v1/<resource>.csv` with these",
        "query parameters; lists are comma-separated (`channels=0,1`), times are unix seconds, UTC.",
        "In the shim, each resource is a method of `stream.V1Client` (the *accessor* column);",
        "on the command line, `runeq fetch <resource> --patient-id P ...` (a parameter's `_` is `-`).",
        "",
        "| resource | accessor | formats | availability | pagination | what it holds |",
        "|---|---|---|---|---|---|",
    ]
    for r in RESOURCES:
        lines.append(
            f"| {code(r.name)} | {code(r.accessor)} | {', '.join(r.formats)} | "
            f"{code(r.availability) if r.availability else 'none'} | "
            f"{'tokens only' if r.token_only else 'page numbers or tokens'} | {r.summary} |"
        )
    lines += ["", "## Parameters of every resource", "", "| parameter | meaning |", "|---|---|"]
    lines += [f"| {code(name)} | {meaning} |" for name, meaning in COMMON_PARAMETERS]
    for r in RESOURCES:
        lines += ["", f"## {r.name}", "", f"{r.summary} Accessor: `stream.V1Client(cfg).{r.accessor}(...)`.", ""]
        lines.append(f"CSV columns: {columns_of(r.name)}." if "csv" in r.formats else "JSON only: no CSV columns.")
        lines.append("")
        if r.parameters:
            lines += ["Its own parameters, beside those of every resource:", "", "| parameter | meaning |", "|---|---|"]
            lines += [f"| {code(name)} | {meaning} |" for name, meaning in r.parameters]
        else:
            lines.append("No parameters of its own: those of every resource.")
        lines += ["", "From the emulator, on the command line (with your account: drop `--emulator`, and give your own patient and device):", "", example(r)]
    return "\n".join(lines) + "\n"


def on_files(files: Files, config) -> Files:
    """Add the generated pages to the site."""
    pages = {
        "resources.md": resources_page(),
        "changelog.md": (ROOT / "CHANGELOG.md").read_text(),
    }
    for path, content in pages.items():
        files.append(File.generated(config, path, content=content))
    return files
