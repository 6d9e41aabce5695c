"""Masking of the variable parts of a log line, and extraction of the text worth classifying.

Masks make lines that differ only by numbers, ids, hosts or paths identical, so Drain3 mines one
template for them and the embedding cache hits. The same instructions feed Drain3's masker, so the
template and the classified text always agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from drain3.masking import MaskingInstruction

# Order matters: specific shapes first, bare numbers last (a later rule never sees the digits of an
# earlier mask, because masks are letters between angle brackets). The guard is a set of substrings
# one of which must occur for the regex to possibly match: a cheap test that skips most regex scans.
_DIGITS = tuple("0123456789")
MASKS: list[tuple[str, str, tuple[str, ...]]] = [
    (r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\]]+", "URL", ("://",)),
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "UUID", ("-",)),
    (r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?", "TS", (":",)),
    (r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}", "TS", (":",)),
    (r"\b\d{1,2}/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}(?::\d{2}){3}(?:\s[+-]\d{4})?", "TS", ("/",)),
    (r"\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b", "TS", (":",)),
    (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b", "IP", (".",)),
    (r"\[[0-9a-fA-F:]*::[0-9a-fA-F:]*\](?::\d{1,5})?", "IP", ("::",)),
    (r"\b[a-zA-Z][\w-]*(?:\.[\w-]+)*:\d{2,5}\b", "HOST", (":",)),
    (r"(?<![\w.>])(?:[A-Za-z]:)?(?:[/\\][\w.@%+~-]+){2,}[/\\]?", "PATH", ("/", "\\")),
    (r"\b0[xX][0-9a-fA-F]+\b", "HEX", ("0x", "0X")),
    (r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{12,}\b", "HEX", _DIGITS),
    (r"(?<!\w)'[^'\n]{0,200}'(?!\w)", "QUOTED", ("'",)),
    (r"\"[^\"\n]{0,200}\"", "QUOTED", ('"',)),
    (r"`[^`\n]{0,200}`", "QUOTED", ("`",)),
    (r"(?<=_)-?\d{4,}\b", "NUM", ("_",)),
    (r"(?<![A-Za-z0-9._])\d+(?:\.\d+)?(?:ms|us|ns|s|m|h|d|[kKMGTP]i?B|[kKMG]b?|B)\b", "NUM", _DIGITS),
    (r"(?<![A-Za-z0-9._])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![A-Za-z0-9])", "NUM", _DIGITS),
]


class GuardedMask(MaskingInstruction):
    """A Drain3 masking instruction that skips its regex when none of its guard substrings occurs."""

    def __init__(self, pattern: str, mask_with: str, guard: tuple[str, ...]) -> None:
        super().__init__(pattern, mask_with)
        self.guard = guard

    def mask(self, content: str, mask_prefix: str, mask_suffix: str) -> str:
        if not any(g in content for g in self.guard):
            return content
        return str(super().mask(content, mask_prefix, mask_suffix))


_COMPILED = [GuardedMask(p, name, guard) for p, name, guard in MASKS]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t]+")
_TB_HEAD = "Traceback (most recent call last)"
# "pkg.module.SomeError: message", "SomeException", "java.io.IOException: ...", "KeyError: 'x'"
_EXC_LINE = re.compile(
    r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Warning|Fault|error|Timeout)\b"
)


def drain_masking() -> list[MaskingInstruction]:
    """The masks as Drain3 instructions (used by the TemplateMiner's masker)."""
    return list(_COMPILED)


def mask(text: str) -> str:
    """Replace numbers, ids, hosts, paths, hex and quoted values with typed placeholders."""
    for instruction in _COMPILED:
        text = instruction.mask(text, "<", ">")
    return text


@dataclass(frozen=True)
class Prepared:
    """The text to classify and what was wrong with the input, if anything."""

    text: str
    problem: str | None = None  # empty, binary, oversized


def final_exception_line(lines: list[str]) -> str | None:
    """The last line of a traceback that names an exception (Python, Java 'Caused by', Go panics)."""
    for line in reversed(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("File ", "at ", "^", "...", "~")):
            continue
        if stripped.startswith("Caused by: "):
            stripped = stripped[len("Caused by: ") :]
        if _EXC_LINE.match(stripped) or stripped.startswith("panic: "):
            return stripped
    return None


def prepare(message: object, traceback: str | None = None, max_chars: int = 2000) -> Prepared:
    """Clean a raw message and reduce a multi-line traceback to message + final exception line.

    Why: the cause of a traceback is in its last line (and the logged message), never in the stack
    frames, which only add noise to the template and the embedding.
    """
    problem: str | None = None
    if isinstance(message, bytes | bytearray):
        message = bytes(message).decode("utf-8", "replace")
    text = str(message or "")
    if len(text) > max_chars * 8:
        problem = "oversized"
        text = text[: max_chars * 8]
    if text:
        junk = len(_CONTROL.findall(text)) + text.count("\ufffd")
        if junk > max(3, len(text) // 10):
            problem = "binary"
        text = _CONTROL.sub(" ", text.replace("\ufffd", " "))
    head, _, tail = text.partition(_TB_HEAD)
    lines = [ln for ln in head.splitlines() if ln.strip()]
    parts = [lines[0].strip()] if lines else []
    if tail:  # the message itself carries a traceback: keep what precedes it and its final line
        final = final_exception_line(tail.splitlines())
        if final:
            parts.append(final)
    elif len(lines) > 1:
        final = final_exception_line(lines[1:]) if len(lines) > 2 else None
        parts = [parts[0], final] if final else [" ".join(ln.strip() for ln in lines[:4])]
    if traceback:
        tb_lines = [ln for ln in _CONTROL.sub(" ", traceback).splitlines() if ln.strip()]
        final = final_exception_line(tb_lines)
        if final and final not in " ".join(parts):
            parts.append(final)
    out = _SPACES.sub(" ", " | ".join(p for p in parts if p)).strip()
    if len(out) > max_chars:
        out = out[:max_chars]
        problem = problem or "oversized"
    if not out:
        return Prepared("", problem if problem == "binary" else "empty")
    if problem != "binary" and not any(ch.isalpha() for ch in out):
        problem = "binary"
    return Prepared(out, problem)
