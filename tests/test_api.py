"""The REST API's reads, errors, security and uploads (through FastAPI's TestClient).

Every number the API returns must be the one ``oreflow … --json`` prints: each read is
compared with the CLI's JSON on the same data.
"""

from __future__ import annotations

import json
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _api_helpers import TestClient, cli_json, make_client, runner
from oreflow.api.security import check_bind
from oreflow.api.settings import ApiSettings, is_loopback
from oreflow.cli import app as cli_app
from oreflow.errors import InputError


@pytest.fixture
def client(user_dir: Path, tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path / "api-data") as c:
        yield c


def assert_one_line_error(r: Any, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert isinstance(body["error"], str) and body["error"]
    assert "\n" not in body["error"] and "Traceback" not in r.text
    return str(body["error"])


# -- reads equal the CLI ----------------------------------------------------------------------
@pytest.mark.parametrize(("url", "args"), [
    ("/api/overview?year=2024", ["overview", "--year", "2024"]),
    ("/api/concentration?material=Dy&year=2024", ["concentration", "-m", "Dy", "--year",
                                                  "2024"]),
    ("/api/concentration?material=REO&stage=mine", ["concentration", "--stage", "mine"]),
    ("/api/trace?material=Nd&country=Japan", ["trace", "-m", "Nd", "-c", "Japan"]),
    ("/api/trace?controller=CHN&controller=MMR", ["trace", "--controller", "CHN",
                                                  "--controller", "MMR"]),
    ("/api/blocs", ["blocs"]),
    ("/api/blocs?bloc=EU27&without=CHN&crma=true", ["blocs", "--bloc", "EU27", "--without",
                                                    "CHN", "--crma"]),
    ("/api/risk?material=Dy&bloc=EU27", ["risk", "-m", "Dy", "--bloc", "EU27"]),
    ("/api/data/sources", None),
])
def test_reads_return_the_cli_numbers(client: TestClient, url: str,
                                      args: list[str] | None) -> None:
    r = client.get(url)
    assert r.status_code == 200, r.text
    if args is None:  # data sources: the CLI prints the rows
        rows = cli_json("data", "sources")
        assert r.json()["rows"] == rows and r.json()["total"] == len(rows)
        return
    assert r.json() == cli_json(*args)


def test_table_list_and_pages_equal_the_cli(client: TestClient) -> None:
    listed = client.get("/api/data/tables").json()
    assert listed["tables"] == cli_json("data", "list")
    full = cli_json("data", "show", "stage_output", "iso3=CHN")
    page = client.get("/api/data/tables/stage_output", params={"where": "iso3=CHN", "offset": 3,
                                                         "limit": 5}).json()
    assert page["total"] == len(full) and page["rows"] == full[3:8]
    assert page["columns"] and page["primary_key"]


def test_reads_are_cached_per_query(client: TestClient) -> None:
    cache = client.app.state.cache  # type: ignore[attr-defined]
    client.get("/api/concentration?material=Tb")
    hits = cache.hits
    client.get("/api/concentration?material=Tb")
    assert cache.hits == hits + 1
    client.get("/api/concentration?material=Dy")  # another query: computed
    assert cache.hits == hits + 1


def test_unknown_names_are_400_with_the_cli_line(client: TestClient) -> None:
    msg = assert_one_line_error(client.get("/api/concentration?material=Dysprosum"), 400)
    res = runner.invoke(cli_app, ["concentration", "-m", "Dysprosum"])
    assert res.exit_code == 2 and res.output.strip() == f"error: {msg}"
    assert "unknown table" in assert_one_line_error(client.get("/api/data/tables/nope"), 400)


# -- SQL ------------------------------------------------------------------------------------
def test_sql_select_runs(client: TestClient) -> None:
    r = client.post("/api/data/sql", json={
        "sql": "SELECT iso3, COUNT(*) AS n FROM countries GROUP BY iso3 ORDER BY iso3 LIMIT 3"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["columns"] == ["iso3", "n"] and out["rows_returned"] == 3
    assert [row["n"] for row in out["rows"]] == [1, 1, 1]


@pytest.mark.parametrize(("sql", "words"), [
    ("INSERT INTO countries VALUES ('XXX')", "only SELECT"),
    ("DROP TABLE countries", "only SELECT"),
    ("SELECT 1; SELECT 2", "one statement"),
    ("SELECT * FROM read_csv('/etc/passwd')", "SQL:"),
])
def test_sql_refuses_writes_files_and_several_statements(client: TestClient, sql: str,
                                                         words: str) -> None:
    assert words in assert_one_line_error(client.post("/api/data/sql", json={"sql": sql}), 400)


def test_slow_sql_is_interrupted(user_dir: Path, tmp_path: Path) -> None:
    with make_client(tmp_path / "d", sql_timeout_s=0.3) as c:
        r = c.post("/api/data/sql", json={
            "sql": "SELECT COUNT(*) FROM range(100000000) a, range(100000) b WHERE a.range "
                   "% 7 = b.range % 5", "timeout_s": 30})
        assert "stopped after the 0.3 s limit" in assert_one_line_error(r, 400)


# -- errors ---------------------------------------------------------------------------------
def test_errors_are_one_line_json(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_one_line_error(client.get("/api/no-such-thing"), 404)
    msg = assert_one_line_error(client.get("/api/overview?year=soon"), 422)
    assert msg.startswith("year:")
    msg = assert_one_line_error(client.post("/api/stress", json={"draws": 10}), 422)
    assert "scenario" in msg
    assert_one_line_error(client.post("/api/stress", content=b"{not json",
                                      headers={"content-type": "application/json"}), 422)

    import oreflow.chain.analysis as analysis

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("secret detail\n  File x.py, line 1")

    monkeypatch.setattr(analysis, "supply_risk", boom)
    r = client.get("/api/risk?material=Tb&year=2023")
    assert assert_one_line_error(r, 500) == "internal error: RuntimeError"
    assert "secret" not in r.text


# -- security -------------------------------------------------------------------------------
def test_loopback_needs_no_token(client: TestClient) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    r = client.post("/api/scenarios/saved", json={"text": _scenario_text()})
    assert r.status_code == 201, r.text


def test_bound_elsewhere_writes_need_the_token(user_dir: Path, tmp_path: Path) -> None:
    with make_client(tmp_path / "d", host="0.0.0.0", token="s3cret-token") as c:
        assert c.get("/api/overview").status_code == 200  # reads stay open
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
            r = c.post("/api/stress", json={"scenario": "full-embargo", "draws": 5},
                       headers=headers)
            assert "Bearer" in assert_one_line_error(r, 401)
            assert_one_line_error(c.post("/api/scenarios/saved", json={
                "text": _scenario_text()}, headers=headers), 401)
        assert c.get("/api/jobs").json()["jobs"] == []  # nothing was queued
        ok = {"Authorization": "Bearer s3cret-token"}
        r = c.post("/api/stress", json={"scenario": "full-embargo", "draws": 5}, headers=ok)
        assert r.status_code == 202, r.text


def test_server_refuses_to_bind_elsewhere_without_a_token(
        user_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="OREFLOW_API_TOKEN"):
        check_bind(ApiSettings(host="0.0.0.0", token=None, data_dir=user_dir))
    check_bind(ApiSettings(host="127.0.0.1", token=None, data_dir=user_dir))
    monkeypatch.delenv("OREFLOW_API_TOKEN", raising=False)
    res = runner.invoke(cli_app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "OREFLOW_API_TOKEN" in res.output


def test_server_on_a_busy_port_fails_with_one_line(user_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = runner.invoke(cli_app, ["serve", "--port", str(port), "--data-dir",
                                      str(user_dir)])
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and f"--port {port}" in res.output


def test_oversize_body_is_413_before_reading(user_dir: Path, tmp_path: Path) -> None:
    with make_client(tmp_path / "d", max_body_bytes=1000) as c:
        big = {"text": "x" * 2000}
        r = c.post("/api/scenarios/validate", json=big)
        assert "too large" in assert_one_line_error(r, 413)

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
            yield b'{"text": "'
            for _ in range(20):
                yield b"y" * 100
            yield b'"}'

        r = c.post("/api/scenarios/validate", content=chunks(),
                   headers={"content-type": "application/json"})
        assert "too large" in assert_one_line_error(r, 413)
        assert c.post("/api/scenarios/validate", json={"text": "x: 1"}).status_code == 400


# -- scenarios ------------------------------------------------------------------------------
def _scenario_text(name: str = "my-embargo") -> str:
    from importlib import resources

    text = resources.files("oreflow.simulate").joinpath("builtin", "full-embargo.yaml"
                                                        ).read_text(encoding="utf-8")
    return text.replace("name: full-embargo", f"name: {name}")


def test_builtin_scenarios_list_and_get(client: TestClient) -> None:
    out = client.get("/api/scenarios").json()
    assert out["builtin"] == cli_json("scenarios")
    assert out["saved"] == []
    sc = client.get("/api/scenarios/builtin/china-2025-04").json()
    assert sc["name"] == "china-2025-04" and sc["scenario"]["shocks"]
    yaml_text = client.get("/api/scenarios/builtin/china-2025-04?format=yaml")
    res = runner.invoke(cli_app, ["scenarios", "show", "china-2025-04"])
    assert yaml_text.text == res.stdout
    assert "did you mean 'china-2025-04'" in assert_one_line_error(
        client.get("/api/scenarios/builtin/china-2025-4"), 404)
    # a path is a name like any other: never read from disk
    assert_one_line_error(client.get("/api/scenarios/builtin/..%2F..%2Fetc%2Fpasswd"), 404)


def test_validate_gives_the_cli_errors(client: TestClient, tmp_path: Path) -> None:
    good = client.post("/api/scenarios/validate", json={"text": _scenario_text()})
    assert good.status_code == 200 and good.json()["valid"] and good.json()["name"] == \
        "my-embargo"
    bad_text = _scenario_text().replace("horizon_months:", "horizon_monthz:")
    r = client.post("/api/scenarios/validate", json={"text": bad_text})
    msg = assert_one_line_error(r, 400)
    path = tmp_path / "scenario.yaml"
    path.write_text(bad_text, encoding="utf-8")
    res = runner.invoke(cli_app, ["stress", str(path), "--draws", "1"])
    assert res.exit_code == 2
    cli_lines = [line.removeprefix("error: ").replace(str(path), "scenario.yaml")
                 for line in res.output.strip().splitlines()]
    assert r.json()["problems"] == cli_lines  # every line of the CLI's error
    assert msg == next(x for x in cli_lines if re.match(r"scenario.yaml:\d", x))  # 1st problem
    assert "horizon_monthz" in msg
    as_json = client.post("/api/scenarios/validate", json={
        "scenario": {"name": "x", "start": "2025-01", "horizon_months": 0}})
    assert "horizon_months" in assert_one_line_error(as_json, 400)


def test_saved_scenarios_persist(user_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "d"
    with make_client(data) as c:
        r = c.post("/api/scenarios/saved", json={"text": _scenario_text("mine")})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        bad = c.post("/api/scenarios/saved", json={"text": "name: [1"})
        assert_one_line_error(bad, 400)
    with make_client(data) as c:  # a new app on the same directory
        listed = c.get("/api/scenarios/saved").json()
        assert [s["id"] for s in listed] == [sid] and listed[0]["name"] == "mine"
        assert c.get(f"/api/scenarios/saved/{sid}").json()["text"] == _scenario_text("mine")
        assert c.delete(f"/api/scenarios/saved/{sid}").status_code == 204
        assert_one_line_error(c.delete(f"/api/scenarios/saved/{sid}"), 404)
        assert c.get("/api/scenarios").json()["saved"] == []


# -- exposure and BOM uploads ---------------------------------------------------------------
def _drone() -> str:
    from importlib import resources

    return resources.files("oreflow.examples").joinpath("bom", "drone.yaml").read_text(
        encoding="utf-8")


def test_exposure_equals_the_cli(client: TestClient, tmp_path: Path) -> None:
    want = cli_json("exposure", "--example", "drone")
    r = client.post("/api/exposure", json={"example": "drone"})
    assert r.status_code == 200, r.text
    assert r.json() == want
    path = tmp_path / "drone.yaml"
    path.write_text(_drone(), encoding="utf-8")
    from_file = cli_json("exposure", str(path))
    r = client.post("/api/exposure/upload",
                    files={"file": ("drone.yaml", _drone().encode(), "application/yaml")})
    assert r.status_code == 200, r.text
    assert r.json() == from_file
    r = client.post("/api/exposure", json={"bom": _drone()})
    assert r.json() == from_file


def test_bad_bom_names_its_line_and_field(client: TestClient) -> None:
    bad = _drone().replace("share: 0.9}", "share: 1.9}")
    line = next(i for i, t in enumerate(bad.splitlines(), 1) if "share: 1.9" in t)
    r = client.post("/api/exposure/upload",
                    files={"file": ("line.yaml", bad.encode(), "application/yaml")})
    msg = assert_one_line_error(r, 400)
    assert msg.startswith(f"bom.yaml:{line}") and "share" in msg, msg
    r = client.post("/api/exposure", json={"bom": bad})
    assert assert_one_line_error(r, 400) == msg
    csv = "product,input\nx\n"
    r = client.post("/api/exposure/upload", files={"file": ("b.csv", csv.encode(), "text/csv")})
    assert assert_one_line_error(r, 400).startswith("bom.csv")
    r = client.post("/api/exposure/upload", files={"file": ("b.yaml", b"\xff\xfe\x00", "x")})
    assert "UTF-8" in assert_one_line_error(r, 400)
    assert "one of them" in assert_one_line_error(client.post("/api/exposure", json={}), 422)


def test_openapi_documents_fields_with_units(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    stress = spec["components"]["schemas"]["StressJob"]["properties"]
    assert "draws" in json.dumps(stress) and "[months]" in stress["horizon"]["description"]
    plan = spec["components"]["schemas"]["PlanJob"]["properties"]
    assert "[USD]" in plan["budget_usd"]["description"]
    assert {"/api/stress", "/api/jobs/{job_id}", "/api/data/sql", "/api/exposure/upload"} <= \
        set(spec["paths"])
    assert client.get("/docs").status_code == 200
