"""Settings are declared once, validated before anything runs, and all documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import SETTINGS, SettingsError, load_settings, resolve_secret

README = Path(__file__).parent.parent / "README.md"


@pytest.mark.parametrize("name", [s.name for s in SETTINGS])
def test_every_setting_is_documented_in_the_readme(name: str) -> None:
    assert f"| `{name}` |" in README.read_text(encoding="utf-8")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shuqiao.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""))
    assert settings.path("catalog.path") == tmp_path / "catalog.sqlite"
    assert settings["engine.duckdb_threads"] == 2


@pytest.mark.parametrize(("text", "needle"), [
    ("[catalog]\npth = 'x'\n", "unknown settings: catalog.pth"),
    ("[engine]\nduckdb_threads = 0\n", "engine.duckdb_threads"),
    ("[security]\nhash_key = 'plain-secret-value'\n", "must be a reference"),
    ("[catalog\n", "config file"),
])
def test_invalid_settings_are_refused_before_running(tmp_path: Path, text: str,
                                                      needle: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, text))
    assert needle in str(caught.value)
    assert "plain-secret-value" not in str(caught.value)


def test_secrets_resolve_and_never_print(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUQIAO_TEST_KEY", "s3cr3t-value")
    secret = resolve_secret("env:SHUQIAO_TEST_KEY")
    assert secret.reveal() == "s3cr3t-value"
    assert "s3cr3t" not in repr(secret) and "s3cr3t" not in str(secret)
    (tmp_path / "key").write_text("from-a-file\n")
    assert resolve_secret("file:key", tmp_path).reveal() == "from-a-file"
    with pytest.raises(SettingsError, match="not set"):
        resolve_secret("env:SHUQIAO_TEST_MISSING")
