"""Envelopes byte for byte as PyNaCl and the original client make them
(tests/data/vectors.json), and keys from arguments, environment and files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import REPO
from sse_platform_client import ConfigError, Settings, Signer

VECTORS = json.loads((REPO / "tests/data/vectors.json").read_text(encoding="utf-8"))
KEYS = VECTORS["modules"]


def cases(expect):
    return [c for c in VECTORS["signed_messages"] if (c["expect"] == "accept") == expect]


@pytest.mark.parametrize("case", cases(True), ids=lambda c: c["name"])
def test_envelope_is_byte_identical_to_the_vectors(case):
    wire = json.loads(case["wire"])
    signer = Signer(wire["origin"], KEYS[wire["origin"]]["signing_key_file"])
    inner = json.loads(case["inner"])
    assert signer.inner_bytes(inner, wire["resolve_id"]) == case["inner"].encode()
    assert signer.envelope(inner, wire["resolve_id"]) == case["wire"]


def test_module_start_from_its_fields_alone():
    """What a module writes ({type, fields}) gets resolve_id and origin
    appended in the vectors' order."""
    case = VECTORS["signed_messages"][0]
    wire = json.loads(case["wire"])
    signer = Signer("ListServ", KEYS["ListServ"]["signing_key_file"])
    message = {"type": "module_start", "module_name": "ListServ", "port": 8001}
    assert signer.envelope(message, wire["resolve_id"]) == case["wire"]
    assert message == {"type": "module_start", "module_name": "ListServ", "port": 8001}


def test_verify_key_matches_verify_keys_json():
    for name, pair in KEYS.items():
        assert Signer(name, pair["signing_key_file"]).verify_key_b64 == VECTORS["verify_keys_json"][name]


def test_non_json_messages_are_refused_before_sending():
    signer = Signer("ListServ", KEYS["ListServ"]["signing_key_file"])
    with pytest.raises(ValueError):
        signer.envelope({"type": "x", "n": float("nan")}, "id")
    with pytest.raises(TypeError):
        signer.envelope({"type": "x", "s": {1, 2}}, "id")


SEED = KEYS["ListServ"]["signing_key_file"]


def test_settings_from_arguments():
    s = Settings.load(module="ListServ", signing_key=SEED, port=8001, environ={})
    assert (s.module, s.port, s.platform_url) == ("ListServ", 8001, "wss://localhost:8888/websocket")
    assert SEED not in repr(s)


def test_settings_from_environment(tmp_path: Path):
    key_file = tmp_path / "signing_key.key"
    key_file.write_text(SEED + "\n")
    env = {"SSE_MODULE_NAME": "ListServ", "SSE_SIGNING_KEY_FILE": str(key_file),
           "SSE_MODULE_PORT": "8001", "SSE_PLATFORM_URL": "wss://lab.example.org/websocket",
           "SSE_MODULE_URL": "https://lab.example.org/list", "SSE_REQUEST_TIMEOUT": "2.5"}
    s = Settings.load(environ=env)
    assert (s.module, s.signing_key, s.port, s.request_timeout) == ("ListServ", SEED, 8001, 2.5)
    assert s.module_url == "https://lab.example.org/list"
    assert Settings.load(environ=dict(env, SSE_SIGNING_KEY=SEED, SSE_SIGNING_KEY_FILE="/nonexistent")).signing_key == SEED
    assert Settings.load(module="Other", environ=env).module == "Other", "arguments win"


def test_settings_from_the_default_key_file(tmp_path: Path, monkeypatch):
    (tmp_path / "signing_key.key").write_text(SEED)
    monkeypatch.chdir(tmp_path)
    assert Settings.load(module="ListServ", port=1, environ={}).signing_key == SEED


@pytest.mark.parametrize("args, word", [
    (dict(signing_key=SEED, port=1), "SSE_MODULE_NAME"),
    (dict(module="m", port=1), "SSE_SIGNING_KEY"),
    (dict(module="m", signing_key="bm90IGEga2V5", port=1), "32-byte"),
    (dict(module="m", signing_key=SEED), "SSE_MODULE_PORT"),
    (dict(module="m", signing_key=SEED, port=70000), "1-65535"),
    (dict(module="m", signing_key=SEED, port=1, platform_url="https://x"), "ws://"),
    (dict(module="m", signing_key=SEED, port=1, request_timeout=-1), "SSE_REQUEST_TIMEOUT"),
    (dict(module="m", signing_key=SEED, port=1, ca_file="/nonexistent.pem"), "SSE_PLATFORM_CA"),
    (dict(module="m", signing_key_file="/nonexistent.key", port=1), "/nonexistent.key"),
])
def test_bad_settings_say_what_to_fix(args, word, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        Settings.load(environ={}, **args)
    assert word in str(e.value)
    assert SEED not in str(e.value)
