"""Index advice through the binding, on every engine: a duplicate index is
reported everywhere; a missing index is confirmed by SQLite's planner."""
import pytest

import dbmgmt
from dbmgmt import _lib
from conftest import ENGINE

pytestmark = pytest.mark.skipif(not _lib.has("dbmgmt_advisor_new"),
                                reason="library built without index advice")


@pytest.fixture
def shop(conn):
    conn.exec("DROP TABLE IF EXISTS py_adv_orders")
    conn.exec("CREATE TABLE py_adv_orders (id INTEGER NOT NULL PRIMARY KEY, "
              "customer_id INTEGER NOT NULL, status VARCHAR(20), total INTEGER)")
    conn.exec("CREATE INDEX py_adv_status ON py_adv_orders (status)")
    conn.exec("CREATE INDEX py_adv_status_again ON py_adv_orders (status)")
    yield conn
    conn.exec("DROP TABLE IF EXISTS py_adv_orders")


def test_advisor_reports_missing_and_duplicate_indexes(shop):
    if ENGINE == "postgres":  # HypoPG asks the real planner: give it rows and statistics
        shop.exec("INSERT INTO py_adv_orders SELECT g, g % 500, 'new', g FROM generate_series(1, 20000) g")
        shop.exec("ANALYZE py_adv_orders")
    with dbmgmt.Advisor(shop) as advisor:
        advisor.add_query("SELECT id, total FROM py_adv_orders WHERE customer_id = ?", weight=50)
        findings = [f for f in advisor.run() if f.table == "py_adv_orders"]
    kinds = {f.kind for f in findings}
    assert "duplicate" in kinds
    duplicate = next(f for f in findings if f.kind == "duplicate")
    assert duplicate.columns == ["status"]
    assert duplicate.ddl.upper().startswith("DROP INDEX")
    missing = [f for f in findings if f.kind == "missing"]
    assert missing and missing[0].columns[0] == "customer_id"
    assert "CREATE INDEX" in missing[0].ddl.upper()
    assert any("customer_id" in q for q in missing[0].queries)
    if ENGINE == "sqlite":  # confirmed by EXPLAIN QUERY PLAN in a scratch copy
        assert missing[0].confirmed
    if ENGINE == "postgres":  # confirmed by HypoPG, with the planner's costs
        assert missing[0].confirmed
        assert missing[0].cost_before > missing[0].cost_after > 0


def test_advisor_json_and_errors(shop):
    with dbmgmt.Advisor(shop, max_indexes=3) as advisor:
        advisor.add_query("SELECT id FROM py_adv_orders WHERE customer_id = 7")
        report = advisor.run_json()
        assert "findings" in report and report["statements"] >= 1
        with pytest.raises(dbmgmt.InvalidArgument):
            advisor.add_query("SELECT 1", weight=0)
        with pytest.raises(dbmgmt.IOFailure):
            advisor.add_file("/nonexistent/workload.sql")
