"""``shuqiao resource|request|approve|reject|grant|scorecard`` and ``source probe``."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from gateway.cli_governance import register_governance

from .conftest import World


@pytest.fixture
def shuqiao(world: World) -> typer.Typer:
    app = typer.Typer()
    sources = typer.Typer()
    app.add_typer(sources, name="source")
    register_governance(app, sources)
    return app


def run(app: typer.Typer, world: World, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(app, [*args, "--config", str(world.data_dir / "shuqiao.toml")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == code, result.output + result.stderr
    return result


UNTIL = (date.today() + timedelta(days=90)).isoformat()


def test_browsing_the_catalogue(shuqiao: typer.Typer, world: World) -> None:
    listed = run(shuqiao, world, "resource", "list").stdout
    assert listed.splitlines()[0].split() == ["code", "name", "table", "department", "share",
                                              "class", "cycle"]
    assert len(listed.splitlines()) == 10
    shown = run(shuqiao, world, "resource", "show", "public_security.public.residents").stdout
    assert "share class: conditional 有条件共享" in shown
    assert "phone" in shown and "mask:phone" in shown
    found = json.loads(run(shuqiao, world, "resource", "search", "残疾", "--format",
                           "json").stdout)
    assert [e["code"] for e in found] == ["51-DP-0001"]
    run(shuqiao, world, "resource", "show", "51-XX-0000", code=1)


def test_applying_a_bad_resource_file_names_its_lines(shuqiao: typer.Typer, world: World,
                                                      tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nresources:\n  - code: x\n", encoding="utf-8")
    result = run(shuqiao, world, "resource", "apply", "-f", str(bad), code=1)
    assert f"{bad}:line 3: resource x: missing table" in result.stderr
    good = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "resources.yaml"
    assert "9 resources" in run(shuqiao, world, "resource", "apply", "-f", str(good)).stdout


def test_a_request_from_creation_to_revocation(shuqiao: typer.Typer, world: World) -> None:
    run(shuqiao, world, "request", "create", "public_security.public.residents", "--as",
        "mi_analyst", "--columns", "gender,status", "--purpose", "医疗救助核查",
        "--legal-basis", "《社会救助暂行办法》", "--until", UNTIL)
    refused = run(shuqiao, world, "approve", "R-0001", "--as", "si_owner", code=2)
    assert "refused: si_owner may not decide on R-0001" in refused.stderr
    approved = run(shuqiao, world, "approve", "R-0001", "--as", "ps_owner", "--columns",
                   "gender")
    assert "request R-0001 approved (narrowed): grant R-0001 is in force" in approved.stdout
    shown = json.loads(run(shuqiao, world, "request", "show", "R-0001", "--format",
                           "json").stdout)
    assert (shown["status"], shown["granted"]["columns"]) == ("approved", ["gender"])
    assert "R-0001" in run(shuqiao, world, "grant", "list").stdout
    run(shuqiao, world, "grant", "revoke", "R-0001", "--as", "mi_analyst", code=2)
    assert "revoked" in run(shuqiao, world, "grant", "revoke", "R-0001", "--as",
                            "ps_owner").stdout
    listed = run(shuqiao, world, "request", "list", "--as", "mi_analyst").stdout
    assert "R-0001" in listed and "approved" in listed


def test_rejection_and_refusal(shuqiao: typer.Typer, world: World) -> None:
    run(shuqiao, world, "request", "create", "51-PS-0002", "--as", "lapsed_analyst",
        "--columns", "id_no", "--purpose", "核查", "--legal-basis", "-", "--until", UNTIL)
    run(shuqiao, world, "reject", "R-0001", "--as", "ps_owner", "--reason", "无关职责")
    assert "rejected" in run(shuqiao, world, "request", "list", "--status", "rejected").stdout
    refused = run(shuqiao, world, "request", "create", "51-JU-0001", "--as", "mi_analyst",
                  "--columns", "start_date", "--purpose", "核查", "--until", UNTIL, code=2)
    assert "refused: 51-JU-0001 服刑人员信息 is not shareable (不予共享)" in refused.stderr
    run(shuqiao, world, "request", "create", "51-PS-0001", "--as", "mi_analyst",
        "--columns", "shoe_size", "--purpose", "x", "--until", "someday", code=1)


def test_probes_and_scorecards(shuqiao: typer.Typer, world: World) -> None:
    probed = run(shuqiao, world, "source", "probe", "--all").stdout
    assert probed.count("healthy") == 6
    run(shuqiao, world, "source", "probe", code=1)
    run(shuqiao, world, "source", "probe", "nowhere", code=1)
    cards = json.loads(run(shuqiao, world, "scorecard", "--format", "json").stdout)
    assert {c["department"]: (c["probes"], c["probes_ok"]) for c in cards} == {
        d: (1, 1) for d in ("public_security", "social_security", "medical_insurance",
                            "transport", "justice", "disabled_persons")}
    table = run(shuqiao, world, "scorecard", "--department", "justice").stdout
    assert table.splitlines()[1].split()[:5] == ["justice", "1/1", "100%", "100%", "100%"]
