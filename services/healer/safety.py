"""Safety rails: cooldowns, backoff, budgets, dedupe and a cross-replica lock.

The arithmetic is pure; the shared state lives in Redis so that every healer replica sees the
same cooldowns, budget and locks (a replica restart forgets nothing).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import redis

from services.healer.handlers import BadInputNote, FingerprintState

log = logging.getLogger(__name__)


def backoff_delay(attempt: int, base_s: float, max_s: float) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) before the next: base * 2^(n-1), capped."""
    if attempt < 1:
        return 0.0
    return float(min(max_s, base_s * (2 ** (attempt - 1))))


def budget_allows(used: int, limit: int) -> bool:
    return used < limit


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end
"""
_REFRESH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end
"""
# Sliding-window budget: drop entries older than the window, count, add when below the limit.
_BUDGET = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
local used = redis.call('ZCARD', KEYS[1])
if used >= tonumber(ARGV[3]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return used + 1
"""
_MAX = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1
"""


@dataclass(frozen=True)
class CooldownHolder:
    """Which episode started the cooldown of a (target, action): a later one must know whose run it was."""

    fingerprint: str
    incident_id: str
    action_id: str

    @classmethod
    def parse(cls, raw: bytes | str | None) -> CooldownHolder | None:
        try:
            data: Any = json.loads(raw or "{}")
            return cls(str(data["fingerprint"]), str(data["incident_id"]), str(data["action_id"]))
        except (ValueError, TypeError, KeyError):
            return None  # a cooldown without a holder: nobody's run can be claimed


class SafetyStore:
    """Redis-backed shared state of the healer (one instance per client; thread-safe via the pool)."""

    def __init__(self, client: redis.Redis, prefix: str, dedupe_ttl_s: float) -> None:
        self.r: Any = client  # redis-py's sync/async union types defeat the checker
        self.prefix = prefix
        self.dedupe_ttl_ms = int(dedupe_ttl_s * 1000)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # -- lock: one replica owns one fingerprint --------------------------------------------------
    def acquire_lock(self, fingerprint: str, ttl_s: float) -> str | None:
        token = uuid.uuid4().hex
        if self.r.set(self.key("lock", fingerprint), token, nx=True, px=int(ttl_s * 1000)):
            return token
        return None

    def refresh_lock(self, fingerprint: str, token: str, ttl_s: float) -> bool:
        return bool(self.r.eval(_REFRESH, 1, self.key("lock", fingerprint), token, int(ttl_s * 1000)))

    def release_lock(self, fingerprint: str, token: str) -> bool:
        return bool(self.r.eval(_RELEASE, 1, self.key("lock", fingerprint), token))

    # -- per-fingerprint state (dedupe) ---------------------------------------------------------
    def get_state(self, fingerprint: str) -> FingerprintState | None:
        raw = self.r.get(self.key("state", fingerprint))
        if not raw:
            return None
        try:
            return FingerprintState.from_dict(json.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:  # unreadable: decided afresh, never dead-lettered
            log.error("unreadable state of fingerprint %s, ignored: %s", fingerprint, exc)
            return None

    def set_state(self, fingerprint: str, state: FingerprintState, ttl_s: float | None = None) -> None:
        """Remember the state; an 'acting' state is given the lock's TTL so a dead replica frees it."""
        px = int(ttl_s * 1000) if ttl_s is not None else self.dedupe_ttl_ms
        self.r.set(self.key("state", fingerprint), json.dumps(state.to_dict()), px=px)

    def clear_state(self, fingerprint: str) -> None:
        self.r.delete(self.key("state", fingerprint))

    def touch_state(self, fingerprint: str, ttl_s: float) -> None:
        """Keep an 'acting' state alive as long as its episode's lease, without rewriting it."""
        self.r.pexpire(self.key("state", fingerprint), int(ttl_s * 1000))

    # -- the episode journal: what an episode is about, until it ends ----------------------------
    # An incident's offset is committed once its episode starts on a worker thread; the journal is what
    # survives the replica that runs it, so another replica (or the same one restarted) takes it over.
    def journal_episode(self, fingerprint: str, incident: dict[str, Any], received_ms: int) -> None:
        entry = json.dumps({"incident": incident, "received_ms": received_ms})
        self.r.set(self.key("episode", fingerprint), entry, px=self.dedupe_ttl_ms)

    def journaled_episode(self, fingerprint: str) -> tuple[dict[str, Any], int] | None:
        """The journaled incident and when it was received; None when there is none or it is unreadable."""
        raw = self.r.get(self.key("episode", fingerprint))
        if not raw:
            return None
        try:
            entry = json.loads(raw)
            incident, received_ms = entry["incident"], int(entry["received_ms"])
            if not isinstance(incident, dict):
                raise TypeError("the journaled incident is not a record")
            return incident, received_ms
        except (ValueError, KeyError, TypeError) as exc:  # data only, never code: an unreadable entry is dropped
            log.error("unreadable episode journal of fingerprint %s, dropped: %s", fingerprint, exc)
            self.drop_episode(fingerprint)
            return None

    def drop_episode(self, fingerprint: str) -> None:
        self.r.delete(self.key("episode", fingerprint))

    def journaled_fingerprints(self) -> list[str]:
        head = self.key("episode", "")
        keys = self.r.scan_iter(match=f"{head}*", count=500)
        return [(k.decode() if isinstance(k, bytes) else str(k))[len(head) :] for k in keys]

    def count_duplicate(self, fingerprint: str) -> int:
        """Count a report absorbed without an action (an update of an open episode, or a duplicate)."""
        key = self.key("dup", fingerprint)
        pipe = self.r.pipeline()
        pipe.incr(key)
        pipe.pexpire(key, self.dedupe_ttl_ms)
        return int(pipe.execute()[0])

    def duplicates(self, fingerprint: str) -> int:
        return int(self.r.get(self.key("dup", fingerprint)) or 0)

    # -- reports merged into an open episode ----------------------------------------------------
    def first_merge(self, open_incident_id: str, incident_id: str) -> bool:
        """True the first time ``incident_id`` is merged into the open episode (its count is added once)."""
        return bool(self.r.set(self.key("merged", open_incident_id, incident_id), "1", nx=True, px=self.dedupe_ttl_ms))

    def update_due(self, open_incident_id: str, incident_id: str, interval_s: float) -> bool:
        """True when a report of ``incident_id`` on the open episode was not published within the interval."""
        px = max(1, int(interval_s * 1000))
        return bool(self.r.set(self.key("update", open_incident_id, incident_id), "1", nx=True, px=px))

    # -- freshest sighting of a fingerprint (verification by absence) ---------------------------
    def note_seen(self, fingerprint: str, last_seen_ms: int) -> None:
        self.r.eval(_MAX, 1, self.key("seen", fingerprint), last_seen_ms, self.dedupe_ttl_ms)

    def note_bad_input(self, note: BadInputNote) -> None:
        """Keep the newest report of bad input (an older one arriving late does not replace it)."""
        current = self.bad_input_note()
        if current is None or note.last_seen >= current.last_seen:
            self.r.set(self.key("bad_input"), json.dumps(note.to_dict()), px=self.dedupe_ttl_ms)

    def bad_input_note(self) -> BadInputNote | None:
        raw = self.r.get(self.key("bad_input"))
        if not raw:
            return None
        try:
            return BadInputNote.from_dict(json.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:  # unreadable: as if none, never fatal
            log.error("unreadable bad-input note, ignored: %s", exc)
            return None

    def last_seen(self, fingerprint: str) -> int:
        return int(self.r.get(self.key("seen", fingerprint)) or 0)

    # -- cooldown per (target, action) ----------------------------------------------------------
    def take_cooldown(self, target: str, action: str, cooldown_s: float, holder: CooldownHolder | None = None) -> bool:
        """True if (target, action) was not used within the cooldown; starts a new cooldown held by ``holder``."""
        if cooldown_s <= 0:
            return True
        value = json.dumps(asdict(holder)) if holder is not None else "{}"
        return bool(self.r.set(self.key("cooldown", target, action), value, nx=True, px=int(cooldown_s * 1000)))

    def cooldown_holder(self, target: str, action: str) -> CooldownHolder | None:
        return CooldownHolder.parse(self.r.get(self.key("cooldown", target, action)))

    def cooldown_left_ms(self, target: str, action: str) -> int:
        return max(0, int(self.r.pttl(self.key("cooldown", target, action))))

    # -- global action budget -------------------------------------------------------------------
    def take_budget(self, now_ms: int, window_s: float, limit: int) -> bool:
        member = f"{now_ms}:{uuid.uuid4().hex}"
        used = self.r.eval(_BUDGET, 1, self.key("budget"), now_ms, int(window_s * 1000), limit, member)
        return int(used) >= 0

    def take_source_slot(self, source: str, now_ms: int, window_s: float, limit: int) -> bool:
        """The same sliding window as the budget, per producer of incidents."""
        member = f"{now_ms}:{uuid.uuid4().hex}"
        key = self.key("source", source[:100])
        return int(self.r.eval(_BUDGET, 1, key, now_ms, int(window_s * 1000), limit, member)) >= 0

    # -- containers being restarted by the healer (the watch ignores their die events) ----------
    def mark_restarting(self, container: str, ttl_s: float) -> None:
        self.r.set(self.key("restarting", container), "1", px=int(ttl_s * 1000))

    def is_restarting(self, container: str) -> bool:
        return bool(self.r.exists(self.key("restarting", container)))

    def clear_restarting(self, container: str) -> None:
        self.r.delete(self.key("restarting", container))

    # -- answers to commands, fed by model.events ----------------------------------------------
    def note_model_event(self, value: dict[str, Any], received_ms: int) -> None:
        """Keep a model event under the command it answers; events of no command verify nothing."""
        command_id = value.get("command_id")
        if not command_id:
            return
        record = {
            "event_id": value.get("event_id"),
            "model_name": value.get("model_name"),
            "version": value.get("version"),
            "status": value.get("status"),
            "previous_version": value.get("previous_version"),
            "reason": value.get("reason") or "",
            "ts": value.get("ts"),
            "received_ms": received_ms,
        }
        key = self.key("answers", str(command_id))
        pipe = self.r.pipeline()
        pipe.hset(key, str(value.get("event_id") or uuid.uuid4().hex), json.dumps(record))  # replays dedupe
        pipe.pexpire(key, self.dedupe_ttl_ms)
        pipe.execute()

    def model_answers(self, command_id: str) -> list[dict[str, Any]]:
        """The model events that answer ``command_id``, oldest first."""
        raw = self.r.hvals(self.key("answers", command_id))
        return sorted((json.loads(v) for v in raw), key=lambda rec: int(rec.get("ts") or 0))
