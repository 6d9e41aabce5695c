"""Masking, traceback reduction, bad input and template collapse (no model needed)."""

from __future__ import annotations

from pathlib import Path

from services.logclassifier.masking import mask, prepare
from services.logclassifier.templates import TemplateStore


def test_mask_replaces_variable_parts() -> None:
    line = (
        "2024-03-01T12:00:01.123Z request 3f2a1b0c-1111-2222-3333-444455556666 to redis:6379 "
        "from 10.1.2.3:5555 failed after 30 ms: '/var/lib/aig/model.txt' 0xdeadbeef"
    )
    masked = mask(line)
    assert masked == "<TS> request <UUID> to <HOST> from <IP> failed after <NUM> ms: <QUOTED> <HEX>"


def test_mask_keeps_words_with_digits_and_apostrophes() -> None:
    masked = mask("Can't connect to MySQL server on '127.0.0.1' (111) utf8 ipv4 x86_64")
    assert masked == "Can't connect to MySQL server on <QUOTED> (<NUM>) utf8 ipv4 x86_64"
    assert mask("open /etc/app/secret.key: permission denied") == "open <PATH>: permission denied"


def test_traceback_reduced_to_message_and_final_exception_line() -> None:
    tb = (
        "Traceback (most recent call last):\n"
        '  File "svc.py", line 3, in predict\n'
        '    r.get("x")\n'
        "redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.\n"
    )
    assert prepare("prediction failed", tb).text == (
        "prediction failed | redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379. "
        "Connection refused."
    )
    assert prepare("prediction failed\n" + tb).text == prepare("prediction failed", tb).text
    java = "java.lang.RuntimeException: boom\n\tat a.b(C.java:1)\nCaused by: java.net.ConnectException: refused\n\tat x"
    assert prepare(java).text == "java.lang.RuntimeException: boom | java.net.ConnectException: refused"


def test_bad_input_is_flagged_not_raised() -> None:
    assert prepare("").problem == "empty"
    assert prepare(None).problem == "empty"
    assert prepare(b"\x00\x01\x02\xff\xfe" * 100).problem == "binary"
    huge = prepare("x" * 1_000_000, max_chars=2000)
    assert huge.problem == "oversized"
    assert len(huge.text) == 2000
    assert prepare("Connection refused").problem is None


def test_templates_collapse_and_survive_restart(tmp_path: Path) -> None:
    store = TemplateStore.from_settings("file", tmp_path / "drain.bin", "", None, "", snapshot_interval_s=0.0)
    lines = [f"Error 111 connecting to 127.0.0.{i}:{6000 + i}. Connection refused." for i in range(20)]
    lines += [f"worker {i} took {i * 3} ms for batch {i * 7}" for i in range(20)]
    templates = {store.add_masked(store.mask(line))[0] for line in lines}
    assert templates == {
        "Error <NUM> connecting to <IP>. Connection refused.",
        "worker <NUM> took <NUM> ms for batch <NUM>",
    }
    store.save("test")
    again = TemplateStore.from_settings("file", tmp_path / "drain.bin", "", None, "")
    assert again.size == 2
    template, _ = again.add_masked(again.mask("Error 111 connecting to 10.0.0.1:1. Connection refused."))
    assert template == "Error <NUM> connecting to <IP>. Connection refused."
    assert again.size == 2
