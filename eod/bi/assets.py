"""The finance dashboards as code: bi/ holds Superset's own export format, one YAML file
per asset, linked by uuid (databases/, datasets/<database>/, charts/, dashboards/, as in
Superset's examples).

The committed database file names no server: `bundle` writes the import ZIP with the
connection of the login role `eod bi serve` made, so the repository never holds one.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import yaml

from eod.bi.docs import mart_docs
from eod.config import PROJECT_DIR

BI_DIR = PROJECT_DIR / "bi"
KINDS = ("databases", "datasets", "charts", "dashboards")
BUNDLE_ROOT = "eod_finance"  # the folder Superset expects every file of a bundle under


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the order written, multi-line text (SQL, markdown) as `|`."""


def _text(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(data: dict) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=92)


def asset_files(bi_dir: Path = BI_DIR) -> Iterator[tuple[str, Path]]:
    """(path inside the bundle, file) for every asset, in a stable order."""
    for kind in KINDS:
        for path in sorted((bi_dir / kind).rglob("*.yaml")):
            yield path.relative_to(bi_dir).as_posix(), path


def load_assets(bi_dir: Path = BI_DIR) -> dict[str, dict]:
    return {name: yaml.safe_load(path.read_text()) for name, path in asset_files(bi_dir)}


def described(dataset: dict, docs: dict[str, dict]) -> dict:
    """The dataset with the dbt docs' descriptions of its table and columns.

    Only a physical dataset over a documented mart is described from the docs; a
    virtual one (SQL) keeps the descriptions written in its file.
    """
    table = docs.get(dataset["table_name"]) if not dataset.get("sql") else None
    if table is None:
        return dataset
    out = dict(dataset, description=table["description"])
    out["columns"] = [
        dict(column, description=table["columns"].get(column["column_name"], column["description"]))
        if not column.get("expression")
        else column
        for column in dataset["columns"]
    ]
    return out


def stale_descriptions(bi_dir: Path = BI_DIR) -> list[str]:
    """Dataset files whose descriptions differ from the dbt docs'."""
    docs = mart_docs()
    return [
        name
        for name, asset in load_assets(bi_dir).items()
        if name.startswith("datasets/") and described(asset, docs) != asset
    ]


def write_descriptions(bi_dir: Path = BI_DIR) -> list[str]:
    """Copy the dbt docs' descriptions into the dataset files; return those changed."""
    docs = mart_docs()
    changed = []
    for name, path in asset_files(bi_dir):
        if not name.startswith("datasets/"):
            continue
        asset = yaml.safe_load(path.read_text())
        updated = described(asset, docs)
        if updated != asset:
            path.write_text(dump(updated))
            changed.append(name)
    return changed


def bundle(sqlalchemy_uri: str, bi_dir: Path = BI_DIR) -> bytes:
    """The import ZIP of every asset, its database connecting through `sqlalchemy_uri`.

    The datasets are described from the dbt docs as they are now, so Superset shows the
    current text even before `eod bi docs` has copied it into bi/ (a test asks for that).
    """
    docs = mart_docs()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        # the importer refuses a bundle without metadata; its type is set per import
        metadata = {"version": "1.0.0", "type": "Dashboard", "timestamp": _now()}
        archive.writestr(f"{BUNDLE_ROOT}/metadata.yaml", dump(metadata))
        for name, asset in load_assets(bi_dir).items():
            if name.startswith("databases/"):
                asset = dict(asset, sqlalchemy_uri=sqlalchemy_uri)
            elif name.startswith("datasets/"):
                asset = described(asset, docs)
            archive.writestr(f"{BUNDLE_ROOT}/{name}", dump(asset))
    return buffer.getvalue()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
