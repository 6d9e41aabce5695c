"""The artifact store: one directory per model version on a volume shared by trainer and inference.

``<artifact_dir>/<model_name>/v<version>/`` holds ``model.txt`` (the LightGBM booster text) and
``model.json`` (feature list, vocabularies, checksum, metrics). Each file is written to a temporary
name and renamed, and the sidecar goes last, so a reader never sees a half-written model: a
version without a sidecar does not exist yet, and a checksum mismatch is refused.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import lightgbm as lgb

from services.common.model.bundle import FeatureSpec, ModelBundle, booster_checksum

BOOSTER_FILE = "model.txt"
SIDECAR_FILE = "model.json"
FORMAT = 1


class ArtifactError(RuntimeError):
    """A model artifact is missing, incomplete or corrupt."""


def version_dir(artifact_dir: Path, model_name: str, version: int) -> Path:
    return Path(artifact_dir) / model_name / f"v{version}"


def uri_of(path: Path) -> str:
    return Path(path).resolve().as_uri()


def path_of(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme not in ("file", ""):
        raise ArtifactError(f"unsupported artifact uri {uri!r}: only file:// is served")
    return Path(parsed.path)


def _write_atomic(path: Path, data: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_bundle(
    artifact_dir: Path, model_name: str, version: int, bundle: ModelBundle, meta: dict[str, Any] | None = None
) -> str:
    """Write the booster then its sidecar atomically; returns the artifact URI (the version dir)."""
    target = version_dir(artifact_dir, model_name, version)
    target.mkdir(parents=True, exist_ok=True)
    text = bundle.booster_text()
    _write_atomic(target / BOOSTER_FILE, text)
    sidecar = {
        "format": FORMAT,
        "model_name": model_name,
        "version": version,
        "booster_file": BOOSTER_FILE,
        "booster_sha256": booster_checksum(text),
        **bundle.spec.to_json(),
        "meta": {**bundle.meta, **(meta or {})},
    }
    _write_atomic(target / SIDECAR_FILE, json.dumps(sidecar, indent=1, sort_keys=True, allow_nan=True))
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return uri_of(target)


def load_bundle(uri: str) -> ModelBundle:
    """Read and verify a stored model; raises :class:`ArtifactError` with the reason."""
    directory = path_of(uri)
    try:
        sidecar = json.loads((directory / SIDECAR_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"model artifact {uri} has no {SIDECAR_FILE} (missing or incomplete)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"cannot read {SIDECAR_FILE} of {uri}: {exc}") from exc
    try:
        text = (directory / sidecar.get("booster_file", BOOSTER_FILE)).read_text(encoding="utf-8")
    except OSError as exc:
        raise ArtifactError(f"cannot read the booster of {uri}: {exc}") from exc
    if booster_checksum(text) != sidecar.get("booster_sha256"):
        raise ArtifactError(f"booster checksum mismatch in {uri}: the file is corrupt or was replaced")
    try:
        spec = FeatureSpec.from_json(sidecar)
        booster = lgb.Booster(model_str=text)
    except (KeyError, TypeError, ValueError, lgb.basic.LightGBMError) as exc:
        raise ArtifactError(f"invalid model in {uri}: {exc}") from exc
    if booster.num_feature() != len(spec.names):
        raise ArtifactError(f"{uri}: booster expects {booster.num_feature()} features, sidecar lists {len(spec.names)}")
    meta = dict(sidecar.get("meta", {}))
    meta.update(model_name=sidecar.get("model_name"), version=sidecar.get("version"), artifact_uri=uri)
    return ModelBundle(booster=booster, spec=spec, meta=meta)
