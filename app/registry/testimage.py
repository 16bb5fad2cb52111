"""A generated test image: a tiny valid single-layer image (config, gzipped layer, schema-2 manifest),
byte-for-byte the same for the same marker. The proof pushes and pulls it; clients prove their pull with it."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass

from app.registry.client import CONFIG_MEDIA, LAYER_MEDIA, SCHEMA2


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class GeneratedImage:
    config: bytes
    layer: bytes  # gzip of a tar holding one small file
    manifest: bytes
    config_digest: str
    layer_digest: str
    manifest_digest: str


def generate_test_image(marker: str) -> GeneratedImage:
    """A tiny valid single-layer image, byte-for-byte the same for the same marker."""
    tar = _proof_tar(f"regwiz proof image {marker}\n".encode())
    layer = gzip.compress(tar, mtime=0)  # mtime=0: no timestamp, so the same bytes every time
    config = _compact({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [_sha256(tar)]},  # diff_ids name the uncompressed tar
        "history": [{"created_by": "regwiz proof"}],
    })
    manifest = _compact({
        "schemaVersion": 2, "mediaType": SCHEMA2,
        "config": {"mediaType": CONFIG_MEDIA, "size": len(config), "digest": _sha256(config)},
        "layers": [{"mediaType": LAYER_MEDIA, "size": len(layer), "digest": _sha256(layer)}],
    })
    return GeneratedImage(config, layer, manifest, _sha256(config), _sha256(layer), _sha256(manifest))


def _proof_tar(content: bytes) -> bytes:
    info = tarfile.TarInfo("regwiz-proof.txt")
    info.size, info.mtime, info.mode = len(content), 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _compact(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
