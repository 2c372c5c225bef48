"""Load the finance dashboards into Superset; run by `eod bi` with Superset's own Python.

    python bi/load_assets.py BUNDLE.zip

Makes sure the `admin` user exists with the password in EOD_BI_ADMIN_PASSWORD, then
imports the bundle's databases, datasets, charts and dashboards, each kind with
overwrite on: `superset import-dashboards` would leave an existing database, dataset or
chart as it was, so a changed connection or an edited YAML file would never arrive.
Imports go by uuid, so running this again updates the same objects in place.
"""

from __future__ import annotations

import os
import sys
import zipfile

import yaml

ADMIN = "admin"
# (importer module, the type its bundle's metadata.yaml must declare), in dependency order
IMPORTS = (
    ("superset.commands.database.importers.v1", "ImportDatabasesCommand", "Database"),
    ("superset.commands.dataset.importers.v1", "ImportDatasetsCommand", "SqlaTable"),
    ("superset.commands.chart.importers.v1", "ImportChartsCommand", "Slice"),
    ("superset.commands.dashboard.importers.v1", "ImportDashboardsCommand", "Dashboard"),
)


def _contents(path: str) -> dict[str, str]:
    # the bundle's files keyed as Superset's importers key them: without the root folder
    with zipfile.ZipFile(path) as bundle:
        return {
            name.split("/", 1)[1]: bundle.read(name).decode()
            for name in bundle.namelist()
            if name.endswith(".yaml")
        }


def _ensure_admin(security_manager, password: str):
    user = security_manager.find_user(username=ADMIN)
    if user is None:
        role = security_manager.find_role("Admin")
        user = security_manager.add_user(
            ADMIN, "EOD", "admin", "admin@localhost", role, password=password
        )
        if not user:
            raise SystemExit("Superset refused to create the admin user")
    else:
        security_manager.reset_password(user.id, password)
    return user


def main(bundle_path: str) -> int:
    import importlib

    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import security_manager
        from superset.utils.core import override_user

        user = _ensure_admin(security_manager, os.environ["EOD_BI_ADMIN_PASSWORD"])
        contents = _contents(bundle_path)
        metadata = yaml.safe_load(contents["metadata.yaml"])
        with override_user(user):
            for module, name, kind in IMPORTS:
                command = getattr(importlib.import_module(module), name)
                typed = {**metadata, "type": kind}
                command({**contents, "metadata.yaml": yaml.safe_dump(typed)}, overwrite=True).run()
    counts = {
        kind: sum(1 for name in contents if name.startswith(f"{kind}/"))
        for kind in ("databases", "datasets", "charts", "dashboards")
    }
    print("imported " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1]))
