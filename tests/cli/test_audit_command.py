"""`vigil audit keygen` and `vigil audit verify --file --public-key`, without a broker."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cli.main import main
from schemas.audit import AuditChain
from schemas.audit_signing import CHECKPOINT_TYPE, CheckpointSigner, load_private_key
from schemas.json import dumps

EVERY = 4


@pytest.fixture
def key(tmp_path: Path, capsys) -> Path:
    out = tmp_path / "audit.pem"
    assert main(["audit", "keygen", "--out", str(out)]) == 0
    capsys.readouterr()
    return out


@pytest.fixture(autouse=True)
def every(monkeypatch) -> None:
    monkeypatch.setenv("VIGIL_AUDIT_CHECKPOINT_EVERY_EVENTS", str(EVERY))


def write_trail(path: Path, key: Path, n: int, edit: int | None = None,
                drop_checkpoints: bool = False) -> list[dict]:
    """Write `n` events with a checkpoint after every EVERY; optionally edit one event and
    drop the checkpoints, chain recomputed either way (what a writer without the key does)."""
    signer = CheckpointSigner(load_private_key(key.read_bytes()))
    chain, events = AuditChain("host/w1"), []
    for i in range(n):
        events.append(chain.seal({"type": "ack", "at": i, "hit_id": f"h-{i}"}))
        if (i + 1) % EVERY == 0:
            events.append(signer.seal_checkpoint(chain, i))
    if edit is not None or drop_checkpoints:
        forged = AuditChain("host/w1")
        bodies = [{k: v for k, v in e.items() if k not in ("seq", "prev_hash", "hash")}
                  for e in events if not (drop_checkpoints and e["type"] == CHECKPOINT_TYPE)]
        if edit is not None:
            bodies[edit]["hit_id"] = "h-forged"
        events = [forged.seal(b) for b in bodies]
    path.write_bytes(b"".join(dumps(e) + b"\n" for e in events))
    return events


def verify(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["audit", "verify", *args])
    return code, capsys.readouterr().out.splitlines()


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(
        tmp_path: Path, capsys) -> None:
    out = tmp_path / "k.pem"
    assert main(["audit", "keygen", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    public = (tmp_path / "k.pem.pub").read_text()
    assert public.startswith("-----BEGIN PUBLIC KEY-----") and public in printed
    assert "key id " in printed and "PRIVATE" not in printed
    before = out.read_bytes()
    assert main(["audit", "keygen", "--out", str(out)]) == 2
    assert "not overwritten" in capsys.readouterr().err and out.read_bytes() == before


def test_verify_with_the_public_key(tmp_path: Path, key: Path, capsys) -> None:
    f, pub = tmp_path / "audit.jsonl", f"{key}.pub"
    write_trail(f, key, 10)  # 10 events, checkpoints after 4 and 8: 2 unsigned
    code, lines = verify(capsys, "--file", str(f), "--public-key", pub)
    assert code == 0, lines
    assert lines[0] == "ok: 12 events from 1 producers, every chain intact"
    assert lines[1] == ("signed: producer host/w1: 12 events, 2 checkpoints verify, seq 0..8 "
                        "proven; the 2 newer events are not signed yet")
    assert lines[2].startswith("ok: every checkpoint verifies (keys ")
    # Without the key the chains are checked and the checkpoints only counted.
    code, lines = verify(capsys, "--file", str(f))
    assert code == 0 and lines[1] == "note: 2 checkpoints not checked (no --public-key)"


def test_an_edited_event_with_the_chain_recomputed_is_named(tmp_path: Path, key: Path,
                                                           capsys) -> None:
    f = tmp_path / "audit.jsonl"
    write_trail(f, key, 10, edit=6)  # seq 6, after the first checkpoint (seq 4)
    code, lines = verify(capsys, "--file", str(f))
    assert code == 0, "the hash chain alone does not see it"
    code, lines = verify(capsys, "--file", str(f), "--public-key", f"{key}.pub")
    assert code == 1
    assert lines[1].startswith(f"bad: {f}:10: events seq 5..8 of host/w1 ({f}:6 to {f}:9) "
                               "were rewritten after they were signed (chain recomputed)")


def test_truncation_and_missing_checkpoints_are_reported(tmp_path: Path, key: Path,
                                                         capsys) -> None:
    f, pub = tmp_path / "audit.jsonl", f"{key}.pub"
    write_trail(f, key, 10)
    code, lines = verify(capsys, "--file", str(f), "--public-key", pub,
                         "--expect-count", "host/w1=20")
    assert code == 1 and "bad: producer host/w1: truncated: 20 events expected, 12 present" \
        in lines
    scrape = tmp_path / "metrics.txt"
    scrape.write_text('# TYPE vigil_audit_checkpoint_events gauge\n'
                      'vigil_audit_checkpoint_events{producer="host/w1"} 12.0\n')
    code, lines = verify(capsys, "--file", str(f), "--public-key", pub,
                         "--expect-metrics", str(scrape))
    assert code == 1 and ("bad: producer host/w1: no checkpoint that verifies covers the 12 "
                          "events expected (the newest covers 9)") in "\n".join(lines)
    # Every checkpoint dropped: too many events without one.
    write_trail(f, key, 10, drop_checkpoints=True)
    code, lines = verify(capsys, "--file", str(f), "--public-key", pub)
    assert code == 1 and lines[1] == (f"bad: {f}:5: 5 events of host/w1 without a checkpoint "
                                      "(one follows every 4): a checkpoint was removed")
    # Too few events for a checkpoint to be due: unproven, not ok.
    write_trail(f, key, 3)
    code, lines = verify(capsys, "--file", str(f), "--public-key", pub)
    assert code == 3 and lines[-1].startswith("unproven: ")


def test_bad_arguments_exit_2(tmp_path: Path, key: Path, capsys) -> None:
    f = tmp_path / "audit.jsonl"
    write_trail(f, key, 1)
    assert main(["audit", "verify", "--file", str(f), "--public-key", str(key)]) == 2
    assert "give its public key" in capsys.readouterr().err
    assert main(["audit", "verify", "--file", str(f), "--expect-count", "host/w1"]) == 2
    assert "PRODUCER=N" in capsys.readouterr().err
