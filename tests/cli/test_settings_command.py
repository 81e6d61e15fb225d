"""`vigil settings` shows what is in force and never a secret."""

from __future__ import annotations

from cli.main import main


def test_settings_are_printed_with_the_secret_masked(capsys, monkeypatch) -> None:
    monkeypatch.setenv("VIGIL_WATCHLIST_HASH_SECRET", "do-not-show-me")
    monkeypatch.setenv("VIGIL_WORKER_WEB_PORT", "6123")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "do-not-show-me" not in out
    assert "watchlist.hash_secret" in out and '"***"' in out
    assert "worker.web_port" in out and "6123" in out and "VIGIL_WORKER_WEB_PORT" in out
