"""Column descriptions of the marts as the dbt docs give them, for the BI datasets.

dbt's docs are the one place the marts' columns are described (`models/**/_*__models.yml`
and `_*__sources.yml`, with `{{ doc('name') }}` blocks from the `_*__docs.md` files).
The Superset datasets in bi/datasets carry the same text so that finance sees it beside
each column; `eod bi docs` copies it there and a test checks that nothing drifted.
Parsing the files here (not dbt's manifest) keeps the check free of a dbt parse.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from eod.config import PROJECT_DIR

MODELS_DIR = PROJECT_DIR / "models"
_DOC_BLOCK = re.compile(r"{%-?\s*docs\s+(\w+)\s*-?%}(.*?){%-?\s*enddocs\s*-?%}", re.S)
_DOC_CALL = re.compile(r"{{\s*doc\(\s*['\"](\w+)['\"]\s*\)\s*}}")


def doc_blocks(models_dir: Path = MODELS_DIR) -> dict[str, str]:
    blocks: dict[str, str] = {}
    for path in sorted(models_dir.rglob("*.md")):
        for name, body in _DOC_BLOCK.findall(path.read_text()):
            blocks[name] = body.strip()
    return blocks


def render(text: str | None, blocks: dict[str, str]) -> str | None:
    """A description with its doc() calls filled in, on one line (tooltips have no room
    for the docs' line breaks)."""
    if not text:
        return None

    def block(match: re.Match) -> str:
        name = match.group(1)
        if name not in blocks:
            raise KeyError(f"dbt doc block {name!r} is not defined under models/")
        return blocks[name]

    return " ".join(_DOC_CALL.sub(block, text).split())


def _relations(document: dict):
    """(relation name, description, columns) of a schema file's models and sources."""
    for model in document.get("models") or []:
        yield model["name"], model.get("description"), model.get("columns") or []
    for source in document.get("sources") or []:
        for table in source.get("tables") or []:
            yield table["name"], table.get("description"), table.get("columns") or []


def mart_docs(models_dir: Path = MODELS_DIR) -> dict[str, dict]:
    """{relation: {"description": text, "columns": {column: text}}} for the marts."""
    blocks = doc_blocks(models_dir)
    docs: dict[str, dict] = {}
    for path in sorted((models_dir / "marts").rglob("*.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        for name, description, columns in _relations(document):
            docs[name] = {
                "description": render(description, blocks),
                "columns": {c["name"]: render(c.get("description"), blocks) for c in columns},
            }
    return docs
