"""The settings loader: defaults, file, environment, and one clear line for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import SettingsError, load_settings


def test_defaults_load() -> None:
    s = load_settings(env={})
    assert s.worker.web_port == 6066
    assert s.watchlist.max_ttl_days == 90
    assert s.alerts.suppress_seconds == 300
    assert s.kafka.bootstrap == ""


def test_environment_overrides_file_overrides_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.toml"
    cfg.write_text("[worker]\nweb_port = 7000\nbatch_max_messages = 10\n")
    s = load_settings(cfg, env={"VIGIL_WORKER_WEB_PORT": "7001"})
    assert s.worker.web_port == 7001  # env wins over the file
    assert s.worker.batch_max_messages == 10  # file wins over the defaults


def test_bootstrap_shorthand() -> None:
    s = load_settings(env={"VIGIL_BOOTSTRAP": "kafka1:9092,kafka2:9092"})
    assert s.kafka.bootstrap == "kafka1:9092,kafka2:9092"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"VIGIL_WORKER_WEB_PORT": "abc"},
         "config: worker.web_port = 'abc' (from VIGIL_WORKER_WEB_PORT): "
         "expected an integer 1-65535"),
        ({"VIGIL_WORKER_WEB_PORT": "70000"}, "worker.web_port = '70000'"),
        ({"VIGIL_WATCHLIST_MAX_TTL_DAYS": "0"}, "watchlist.max_ttl_days = '0'"),
        ({"VIGIL_KAFKA_ONE_RECORD_PER_BATCH": "maybe"}, "expected auto, on or off"),
        ({"VIGIL_BOOTSTRAP": "nohostport"},
         "kafka.bootstrap = 'nohostport' (from VIGIL_BOOTSTRAP)"),
        ({"VIGIL_KAFKA_SESSION_TIMEOUT_S": "nan"}, "kafka.session_timeout_s = 'nan'"),
        ({"VIGIL_KAFKA_TOPIC_PREFIX": "bad prefix"}, "kafka.topic_prefix"),
    ],
)
def test_bad_value_names_setting_value_and_allowed(env: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(env=env)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_value_in_file_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.toml"
    cfg.write_text('[worker]\nweb_port = "x"\n')
    with pytest.raises(SettingsError, match=f"worker.web_port = 'x' \\(from {cfg}\\)"):
        load_settings(cfg, env={})


@pytest.mark.parametrize("text", ["[nosuch]\na = 1\n", "[worker]\nnosuch = 1\n", "[worker\n"])
def test_unknown_or_broken_file_is_refused(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "vigil.toml"
    cfg.write_text(text)
    with pytest.raises(SettingsError):
        load_settings(cfg, env={})


def test_as_env_round_trips() -> None:
    s = load_settings(env={"VIGIL_WORKER_WEB_PORT": "7123", "VIGIL_KAFKA_TOPIC_PREFIX": "x."})
    assert load_settings(env=s.as_env()) == s


def test_cli_reports_unreachable_cluster_in_one_line(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.main import main
    from streams.broker import free_port

    monkeypatch.setenv("VIGIL_BOOTSTRAP", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("VIGIL_BROKER_RUN_DIR", "unused")
    assert main(["broker", "check"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("no broker answers at 127.0.0.1:") and "\n" not in err


def test_cli_refuses_an_unknown_topic_as_a_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(["tail", "nosuch"])
    assert exit_.value.code == 2
    assert "unknown topic 'nosuch'" in capsys.readouterr().err


def test_cli_reports_bad_value_in_one_line(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.main import main

    monkeypatch.setenv("VIGIL_WORKER_WEB_PORT", "abc")
    assert main(["broker", "status"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("config: worker.web_port = 'abc' (from VIGIL_WORKER_WEB_PORT): "
                   "expected an integer 1-65535")
