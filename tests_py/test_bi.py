"""The finance dashboards as code, without a browser: the assets hold together, the
datasets carry the dbt docs' descriptions, the bundle connects through the reader role,
and that role reads the marts and nothing else."""

from __future__ import annotations

import io
import uuid
import zipfile

import psycopg2
import pytest
import yaml

from eod.bi.assets import load_assets, stale_descriptions
from eod.bi.docs import mart_docs
from eod.bi.reader import ensure_reader, reader_url
from eod.bi.superset import Superset
from eod.commands.bi import DASHBOARDS


@pytest.fixture(scope="module")
def assets():
    return load_assets()


def _kind(assets, kind):
    return {a["uuid"]: a for name, a in assets.items() if name.startswith(f"{kind}/")}


def test_every_reference_resolves(assets):
    databases, datasets = _kind(assets, "databases"), _kind(assets, "datasets")
    charts, dashboards = _kind(assets, "charts"), _kind(assets, "dashboards")
    assert len(databases) == 1
    assert {d["database_uuid"] for d in datasets.values()} <= set(databases)
    assert {c["dataset_uuid"] for c in charts.values()} <= set(datasets)
    on_dashboards = [
        item["meta"]["uuid"]
        for d in dashboards.values()
        for item in d["position"].values()
        if isinstance(item, dict) and item.get("type") == "CHART"
    ]
    assert sorted(on_dashboards) == sorted(charts), "each chart is on exactly one dashboard"
    assert sorted(d["slug"] for d in dashboards.values()) == sorted(s for _, s in DASHBOARDS)


def test_charts_use_their_datasets_metrics_and_columns(assets):
    datasets = _kind(assets, "datasets")
    for chart in _kind(assets, "charts").values():
        dataset = datasets[chart["dataset_uuid"]]
        metrics = {m["metric_name"] for m in dataset["metrics"]}
        columns = {c["column_name"] for c in dataset["columns"]}
        params = chart["params"]
        used_metrics = list(params.get("metrics") or []) + [params.get("metric")]
        assert {m for m in used_metrics if isinstance(m, str)} <= metrics, chart["slice_name"]
        used_columns = (
            list(params.get("groupby") or [])
            + list(params.get("all_columns") or [])
            + [f["subject"] for f in params.get("adhoc_filters") or [] if f.get("subject")]
            + ([params["x_axis"]] if params.get("x_axis") else [])
        )
        assert set(used_columns) <= columns, chart["slice_name"]


def test_datasets_carry_the_dbt_docs(assets):
    assert stale_descriptions() == [], "run `eod bi docs` after changing the dbt docs"
    docs = mart_docs()
    fees = next(a for a in assets.values() if a.get("table_name") == "fct_daily_fees")
    described = {c["column_name"]: c["description"] for c in fees["columns"]}
    # a shared doc block, rendered, followed by the column's own words
    assert described["currency"].startswith("The currency ticker")
    assert described["currency"].endswith("The fee currency of the trades.")
    # every column a physical dataset takes from a documented mart is described there
    for asset in assets.values():
        table = docs.get(asset.get("table_name")) if "table_name" in asset else None
        if table and not asset.get("sql"):
            plain = [c["column_name"] for c in asset["columns"] if not c.get("expression")]
            assert set(plain) <= set(table["columns"]), asset["table_name"]


def test_the_bundle_connects_through_the_given_uri(tmp_path):
    app = Superset(state_dir=tmp_path, venv=tmp_path)  # nothing runs: only the bundle
    uri = "postgresql+psycopg2://finance_bi_x:secret@/eod?host=/run/pg"
    from eod.bi.assets import bundle

    with zipfile.ZipFile(io.BytesIO(bundle(uri))) as archive:
        names = archive.namelist()
        database = yaml.safe_load(archive.read("eod_finance/databases/eod_marts.yaml"))
        metadata = yaml.safe_load(archive.read("eod_finance/metadata.yaml"))
        fees = yaml.safe_load(archive.read("eod_finance/datasets/eod_marts/fct_daily_fees.yaml"))
    # described from the dbt docs as they are at import time
    documented = mart_docs()["fct_daily_fees"]["columns"]
    for column in fees["columns"]:
        assert column["description"] == documented[column["column_name"]]
    assert database["sqlalchemy_uri"] == uri
    assert metadata["version"] == "1.0.0"
    assert all(name.startswith("eod_finance/") for name in names)
    assert app.log_path == tmp_path / "superset.log"


def test_the_superset_environment_leaks_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("EOD_DATABASE_URL", "postgresql://postgres:topsecret@db/eod")
    monkeypatch.setenv("PREFECT_HOME", "/somewhere")
    monkeypatch.setenv("EOD_POR_SECRET", "k")
    env = Superset(state_dir=tmp_path, venv=tmp_path).environment("pw")
    assert not [k for k in env if k.startswith(("PREFECT", "PG", "DBT"))]
    assert set(k for k in env if k.startswith("EOD_")) == {
        "EOD_BI_STATE_DIR",
        "EOD_BI_ADMIN_PASSWORD",
    }
    assert "topsecret" not in " ".join(env.values())


@pytest.fixture
def reader(db_url, tmp_path):
    role = f"finance_bi_{uuid.uuid4().hex[:8]}"
    password = ensure_reader(db_url, tmp_path, role)
    yield role, password
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'drop role if exists "{role}"')
    conn.close()


def _as_reader(db_url, role, password):
    return psycopg2.connect(reader_url(db_url, role, password))


@pytest.mark.parametrize(
    "statement",
    [
        "select * from exchange.ledger_entries",
        "select * from exchange.users",
        "select * from eod.eod_runs",
        "select * from eod.me_balances",
        "select * from audit.test_failures",
        "delete from marts.proof_of_reserves",
        "create table marts.mine (x int)",
    ],
)
def test_the_reader_reads_nothing_but_the_marts(db_url, reader, statement):
    role, password = reader
    conn = _as_reader(db_url, role, password)
    try:
        with conn.cursor() as cur:
            cur.execute("select count(*) from marts.proof_of_reserves")
            assert cur.fetchone() == (0,)
            with pytest.raises(psycopg2.Error) as refused:
                cur.execute(statement)
        # insufficient privilege, or a read-only transaction refusing a write
        assert refused.value.pgcode in ("42501", "25006")
    finally:
        conn.close()


def test_the_reader_holds_finance_reader_alone(db_url, reader, tmp_path):
    role, password = reader
    admin = psycopg2.connect(db_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'grant eod_admin to "{role}"')  # a membership someone added by hand
        assert ensure_reader(db_url, tmp_path, role) == password  # the kept password
        with admin.cursor() as cur:
            cur.execute(
                """select g.rolname from pg_auth_members m
                   join pg_roles g on g.oid = m.roleid join pg_roles r on r.oid = m.member
                   where r.rolname = %s""",
                (role,),
            )
            assert cur.fetchall() == [("finance_reader",)]
            cur.execute(
                """select rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolinherit
                   from pg_roles where rolname = %s""",
                (role,),
            )
            assert cur.fetchone() == (True, False, False, False, True)
    finally:
        admin.close()
