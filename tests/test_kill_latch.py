"""The kill latch and its two-person lift (fault-matrix row 21), without a running engine."""

import json

import pytest
from cryptography.hazmat.primitives import serialization

from pymm.config import DEFAULT_CONFIG, OperatorConfig
from pymm.runtime.kill import (
    Approval,
    KillError,
    KillLatch,
    generate_operator_key,
    sign_approval,
)
from pymm.runtime.state import StateDir


def _operator(name):
    pem, pub = generate_operator_key()
    key = serialization.load_pem_private_key(pem, password=None)
    return OperatorConfig(name=name, public_key=pub), key


@pytest.fixture
def team(tmp_path):
    alice, ka = _operator("alice")
    bob, kb = _operator("bob")
    latch = KillLatch(StateDir(tmp_path / "state"), [alice, bob])
    return latch, {"alice": ka, "bob": kb}


def test_latch_is_durable_and_idempotent(team, tmp_path):
    latch, _ = team
    assert not latch.read().latched
    first = latch.latch("fat finger")
    again = latch.latch("second reason")
    assert again.latch_id == first.latch_id and again.reason == "fat finger"
    # A new process (a restart) reads the same latch from disk.
    reread = KillLatch(StateDir(tmp_path / "state"), []).read()
    assert reread.latched and reread.latch_id == first.latch_id


def test_two_distinct_operators_lift(team):
    latch, keys = team
    st = latch.latch("test")
    one, got = latch.approve(Approval("alice", st.latch_id, sign_approval(keys["alice"], st.latch_id)))
    assert one.latched and [a.operator for a in got] == ["alice"]
    # The same operator twice still counts once.
    one, got = latch.approve(Approval("alice", st.latch_id, sign_approval(keys["alice"], st.latch_id)))
    assert one.latched and len(got) == 1
    two, got = latch.approve(Approval("bob", st.latch_id, sign_approval(keys["bob"], st.latch_id)))
    assert not two.latched and two.lifted_by == ["alice", "bob"]
    assert not latch.read().latched


def test_refusals(team):
    latch, keys = team
    with pytest.raises(KillError, match="not latched"):
        latch.approve(Approval("alice", "x", "y"))
    st = latch.latch("test")
    with pytest.raises(KillError, match="not in the config"):
        latch.approve(Approval("mallory", st.latch_id, sign_approval(keys["alice"], st.latch_id)))
    # Bob's name with Alice's key: the signature does not verify against Bob's public key.
    with pytest.raises(KillError, match="does not verify"):
        latch.approve(Approval("bob", st.latch_id, sign_approval(keys["alice"], st.latch_id)))
    with pytest.raises(KillError, match="current latch"):
        latch.approve(Approval("bob", "0123", sign_approval(keys["bob"], "0123")))
    assert latch.read().latched


def test_an_approval_of_an_old_latch_never_lifts_a_new_one(team):
    latch, keys = team
    old = latch.latch("first")
    latch.approve(Approval("alice", old.latch_id, sign_approval(keys["alice"], old.latch_id)))
    latch.approve(Approval("bob", old.latch_id, sign_approval(keys["bob"], old.latch_id)))
    new = latch.latch("second")
    assert new.latch_id != old.latch_id
    assert latch.approvals() == []
    got = latch.approve(Approval("alice", new.latch_id, sign_approval(keys["alice"], new.latch_id)))
    assert got[0].latched


def test_an_unreadable_latch_file_is_a_latch(tmp_path):
    state = StateDir(tmp_path / "s").ensure()
    state.kill_file.write_text("{not json")
    st = KillLatch(state, []).read()
    assert st.latched and "unreadable" in (st.reason or "")


def test_cli_kill_without_an_instance_latches_the_file(tmp_path):
    from typer.testing import CliRunner

    from pymm.cli import app

    cfg = tmp_path / "c.toml"
    src = DEFAULT_CONFIG.read_text().replace('dir = "var/pymm"', f'dir = "{tmp_path / "st"}"')
    cfg.write_text(src.replace('"instruments/', f'"{DEFAULT_CONFIG.parent / "instruments"}/'))
    r = CliRunner().invoke(app, ["kill", "--config", str(cfg), "--reason", "drill"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["latched"] and out["running"] is False
    st = json.loads((tmp_path / "st" / "kill.json").read_text())
    assert st["latched"] and st["reason"] == "drill"
