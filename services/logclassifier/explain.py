"""Plain-English explanations: what failed, where, how often, since when, likely cause, what to do."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Text cues first, then well-known ports: the message usually names the dependency.
_DEPENDENCY_WORDS: list[tuple[str, re.Pattern[str]]] = [
    # redis-py's own wording ("Error 111 connecting to host:port.") names no product but is unmistakable.
    ("redis", re.compile(r"redis|\bError -?\d+ connecting to \S+:\d+\.", re.I)),
    ("postgres", re.compile(r"postgres|psycopg|pg_hba|\bpg\b|libpq", re.I)),
    ("kafka", re.compile(r"kafka|rdkafka|broker", re.I)),
    ("docker", re.compile(r"docker", re.I)),
    ("mysql", re.compile(r"mysql", re.I)),
    ("mongodb", re.compile(r"mongo", re.I)),
    ("elasticsearch", re.compile(r"elasticsearch", re.I)),
    ("zookeeper", re.compile(r"zookeeper", re.I)),
    ("dns", re.compile(r"name resolution|name or service not known|ENOTFOUND|no such host|gaierror", re.I)),
]
_PORTS = {
    6379: "redis",
    56379: "redis",
    5432: "postgres",
    55432: "postgres",
    9092: "kafka",
    9093: "kafka",
    3306: "mysql",
    27017: "mongodb",
    9200: "elasticsearch",
    2181: "zookeeper",
    2375: "docker",
    9090: "prometheus",
}
_ADDRESS = re.compile(r"(?:(\d{1,3}(?:\.\d{1,3}){3})|\b([a-zA-Z][\w.-]*))[: ,]+(?:port )?(\d{2,5})\b")
_IP_PORT = re.compile(r"\b(\d{1,3}(?:\.\d{1,3}){3}|localhost|[a-zA-Z][\w-]*(?:\.[\w-]+)*):(\d{2,5})\b")
_PG_ADDR = re.compile(r"server at \"([^\"]+)\", port (\d+)")
_DISPLAY = {
    "redis": "Redis",
    "postgres": "PostgreSQL",
    "kafka": "Kafka",
    "docker": "Docker",
    "mysql": "MySQL",
    "mongodb": "MongoDB",
    "elasticsearch": "Elasticsearch",
    "zookeeper": "ZooKeeper",
    "dns": "DNS",
    "prometheus": "Prometheus",
}

# Short, quotable phrase per root cause (the first that matches the raw line is quoted).
_KEY_PHRASES = re.compile(
    r"Connection refused|Connection reset by peer|connection reset|Broker may not be available|"
    r"Name or service not known|Temporary failure in name resolution|No space left on device|"
    r"disk is full|Cannot allocate memory|out of memory|OOMKilled|MemoryError|Permission denied|"
    r"Access denied|authentication failed|Authentication required|timed out|Timeout[\w ]*|"
    r"deadline exceeded|Model format error|Unknown model format|Could not open [^\s]+|not fitted|"
    r"contains NaN|infinity|out of range|Field required|not set|does not exist|"
    r"number of features[^.]*|Schema mismatch|cannot unmarshal|Expecting value",
    re.I,
)

CAUSES = {
    "out_of_memory": "the process ran out of memory",
    "disk_full": "a disk or volume is full",
    "dependency_unavailable": "a dependency it needs is unreachable",
    "timeout": "calls are too slow and time out",
    "schema_mismatch": "events or inputs do not match the expected schema",
    "data_quality": "inputs carry bad values (NaN, infinity, out of range or empty)",
    "model_error": "the model artifact cannot be loaded or used",
    "permission_denied": "access is refused (file permissions or credentials)",
    "config_error": "a setting is missing or invalid",
    "unknown": "the classifier is not confident about the cause",
}


def dependency_of(texts: list[str]) -> tuple[str | None, str | None]:
    """(dependency name, address) named by the lines, e.g. ("redis", "127.0.0.1:6379")."""
    joined = "\n".join(texts)
    address = None
    port: int | None = None
    m = _PG_ADDR.search(joined)
    if m:
        address, port = f"{m.group(1)}:{m.group(2)}", int(m.group(2))
    else:
        m2 = _IP_PORT.search(joined)
        if m2:
            address, port = f"{m2.group(1)}:{m2.group(2)}", int(m2.group(2))
    for name, regex in _DEPENDENCY_WORDS:
        if regex.search(joined):
            return name, address
    if port is not None and port in _PORTS:
        return _PORTS[port], address
    return None, address


def key_phrase(texts: list[str], fallback: str) -> str:
    for text in texts:
        m = _KEY_PHRASES.search(text)
        if m:
            return m.group(0).strip()
    return fallback[:80]


def suggestion(root_cause: str, service: str, dep: str | None) -> str:
    d = _DISPLAY.get(dep or "", dep or "the dependency")
    return {
        "out_of_memory": f"raise the memory limit of {service} or lower its batch size, then restart it.",
        "disk_full": f"free space on the volume {service} writes to (old logs, snapshots, model artifacts) "
        "or grow it; writes fail until then.",
        "dependency_unavailable": (
            f"check the {dep} container; restart {service} once {d} answers."
            if dep and dep != "dns"
            else f"check that the services {service} calls are up and resolvable; restart {service} once they answer."
        ),
        "timeout": f"check the load and latency of {d if dep else 'what ' + service + ' calls'}; "
        "raise the timeout only if the slowness is expected.",
        "schema_mismatch": "compare the schema versions of producer and consumer; roll back the producer "
        "or deploy a compatible schema (new fields need defaults).",
        "data_quality": "inspect the offending inputs on the deadletter topic; quarantine the source "
        "or fix the upstream feature.",
        "model_error": "roll back to the last good model and re-publish the artifact.",
        "permission_denied": f"fix the owner/mode of the file or the credentials {service} uses.",
        "config_error": f"fix the setting named in the message and restart {service}.",
        "unknown": "read the top templates below; add labelled exemplars if this repeats.",
    }.get(root_cause, "investigate the top templates below.")


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def explain(
    service: str,
    root_cause: str,
    count: int,
    first_ms: int,
    last_ms: int,
    examples: list[str],
    top_template: str,
) -> tuple[str, str, str | None]:
    """(summary, explanation, dependency) of a burst."""
    dep, address = dependency_of(examples)
    phrase = key_phrase(examples, top_template)
    span = max(1, round((last_ms - first_ms) / 1000))
    target = ""
    if dep and root_cause in ("dependency_unavailable", "timeout", "permission_denied"):
        target = f" to {dep}" + (f" at {address}" if address else "")
    what = f"{service} failed {count} times in {span} s with '{phrase}'{target}, since {_iso(first_ms)}."
    cause = CAUSES.get(root_cause, root_cause)
    if root_cause == "dependency_unavailable" and dep:
        cause = f"{_DISPLAY.get(dep, dep)} looks unavailable"
    elif root_cause == "timeout" and dep:
        cause = f"{_DISPLAY.get(dep, dep)} answers too slowly"
    action = suggestion(root_cause, service, dep)
    explanation = f"{what} {cause[0].upper()}{cause[1:]} ({root_cause}). Suggested: {action}"
    label = root_cause.replace("_", " ")
    noun = label if label.endswith("error") else f"{label} error"  # "model error", not "model error error"
    summary = f"{service}: {count} {noun}{'' if count == 1 else 's'} in {span} s" + (f" ({dep})" if dep else "")
    return summary, explanation, dep
