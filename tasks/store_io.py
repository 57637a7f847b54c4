"""Small pieces of the artifact store that name things: URIs without credentials, one spelling of
a store root, file times, and :class:`StoreError`, the one error a failed storage call becomes
(naming the operation, the object and, for refused credentials, where they come from)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

_CREDENTIAL_HINT = re.compile(r"AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|credentials|Forbidden")


class StoreError(OSError):
    """A storage call failed (endpoint unreachable, credentials refused, timeout): names what and where."""


def redact_uri(uri: str) -> str:
    """Drop any user:password@ from a URI so it can go into manifests and logs."""
    parts = urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return uri


def canonical_root(root: str) -> str:
    """One spelling per store: local paths absolute and resolved, URIs without credentials or a trailing /."""
    if "://" not in root:
        return str(Path(root).expanduser().resolve())
    return redact_uri(root).rstrip("/")


def info_time(info: dict) -> float:
    """Modification time of an fsspec info dict (local ``mtime``, S3 ``LastModified``)."""
    stamp = info.get("mtime", info.get("LastModified"))
    return stamp.timestamp() if hasattr(stamp, "timestamp") else float(stamp or 0)


def is_storage_error(exc: BaseException) -> bool:
    """OS-level and S3-client failures; anything else is a bug and keeps its traceback."""
    module = type(exc).__module__ or ""
    return isinstance(exc, OSError) or module.split(".")[0] in ("botocore", "aiobotocore", "aiohttp", "s3fs")


def store_error(op: str, where: str, exc: BaseException, secrets: list[str]) -> StoreError:
    """``store: {op} {where} failed: {Type}: {message}``, one line, any secret replaced by ``***``."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for secret in secrets:
        text = text.replace(secret, "***")
    hint = ""
    if isinstance(exc, PermissionError) or _CREDENTIAL_HINT.search(text):
        hint = " (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or store.credentials_block)"
    return StoreError(f"store: {op} {where} failed: {type(exc).__name__}: {text[:300]}{hint}")
