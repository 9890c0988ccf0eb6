"""Access keys of the push API and the tokens signed with them, as Azure SignalR Service checks them.

A caller sends ``Authorization: Bearer <JWT>``: HS256-signed with an access key (its UTF-8 bytes), ``aud`` the
request's URL without its query, ``exp`` required. ``REALTIME["PUSH_API_KEYS"]`` names the keys: several at
once (rotation: add the new key, move the callers, remove the old one), each for every hub or only some::

    "PUSH_API_KEYS": {
        "primary": os.environ["REALTIME_PUSH_KEY"],
        "reports": {"key": os.environ["REALTIME_REPORTS_KEY"], "hubs": ["reports"]},
    }
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt

from ..conf import realtime_settings
from .errors import ApiError

MIN_KEY_LENGTH = 32
"""Characters an access key needs at least (an HS256 key shorter than its 32-byte digest is weak)."""
LEEWAY = 10.0
"""Seconds of clock difference allowed when checking ``exp`` and ``nbf``."""
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@dataclass(frozen=True, slots=True)
class AccessKey:
    """One named access key, for every hub (``hubs`` ``None``) or only those hub names (lower case)."""

    name: str
    secret: str = field(repr=False)
    hubs: frozenset[str] | None = None

    def allows(self, hub: str) -> bool:
        """Whether this key may be used for hub ``hub`` (its API name)."""
        return self.hubs is None or hub.lower() in self.hubs


def key_problems(setting: Any) -> list[str]:
    """What is wrong with a ``PUSH_API_KEYS`` value (``[]`` when nothing is); the system check reports them."""
    if not isinstance(setting, Mapping):
        return [f"PUSH_API_KEYS must be a dict of key names to keys, not {type(setting).__name__}."]
    problems = []
    for name, value in setting.items():
        secret = value.get("key") if isinstance(value, Mapping) else value
        hubs = value.get("hubs") if isinstance(value, Mapping) else None
        if not isinstance(secret, str):
            problems.append(f"PUSH_API_KEYS[{name!r}] must be a string or {{'key': str, 'hubs': [...]}}.")
        elif len(secret) < MIN_KEY_LENGTH:
            problems.append(f"PUSH_API_KEYS[{name!r}] is {len(secret)} characters; keys need {MIN_KEY_LENGTH}.")
        if hubs is not None and (isinstance(hubs, str) or not all(isinstance(hub, str) for hub in hubs)):
            problems.append(f"PUSH_API_KEYS[{name!r}]['hubs'] must be a list of hub names.")
    return problems


def access_keys() -> list[AccessKey]:
    """The keys ``PUSH_API_KEYS`` names (well-formed ones; the system check reports the others)."""
    setting = realtime_settings.PUSH_API_KEYS
    if not isinstance(setting, Mapping):
        return []
    found = []
    for name, value in setting.items():
        secret = value.get("key") if isinstance(value, Mapping) else value
        hubs = value.get("hubs") if isinstance(value, Mapping) else None
        if isinstance(secret, str) and secret:
            found.append(AccessKey(str(name), secret, None if hubs is None else frozenset(h.lower() for h in hubs)))
    return found


def sign_token(secret: str, audience: str, *, lifetime: float = 3600.0) -> str:
    """A token for ``audience`` (a push API URL without its query) signed with access key ``secret``."""
    now = int(time.time())
    return jwt.encode({"aud": audience, "iat": now, "exp": now + int(lifetime)}, secret, algorithm="HS256")


def verify(token: str, base: str, path: str, hub: str | None, keys: Iterable[AccessKey]) -> AccessKey:
    """The key that signed ``token`` for URL ``base`` + ``path`` (``path`` decoded), allowed for ``hub``.

    Raises :class:`ApiError` 401 for a token that no key signed, that expired or is for another URL, and 403 for
    a key that is not for ``hub``. Signatures are compared in constant time (``hmac.compare_digest``).
    """
    claims: dict[str, Any] | None = None
    signer: AccessKey | None = None
    for key in keys:
        try:
            claims = jwt.decode(
                token,
                key.secret,
                algorithms=["HS256"],
                options={"require": ["exp", "aud"], "verify_aud": False},
                leeway=LEEWAY,
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise unauthorized(f"The access token is not valid: {exc}.") from None
        signer = key
        break
    if signer is None or claims is None:
        raise unauthorized("The access token is not signed with an access key of this server.")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if not any(isinstance(aud, str) and same_url(aud, base, path) for aud in audiences):
        raise unauthorized(f"The access token's audience is not {base}{path}.")
    if hub is not None and not signer.allows(hub):
        raise ApiError(403, "Forbidden", f"Access key {signer.name!r} is not for hub {hub!r}.", target="hub")
    return signer


def unauthorized(message: str) -> ApiError:
    """401 for a missing or invalid token."""
    return ApiError(401, "Unauthorized", message)


def same_url(audience: str, base: str, path: str) -> bool:
    """Whether ``audience`` names ``base`` (scheme and host) + ``path``, whatever the case of scheme and host, a
    default port, percent-encoding or a trailing slash."""
    found, wanted = urlsplit(audience), urlsplit(base)
    if _origin(found.scheme, found.netloc) != _origin(wanted.scheme, wanted.netloc):
        return False
    return unquote(found.path).rstrip("/") == (wanted.path.rstrip("/") + path).rstrip("/")


def _origin(scheme: str, netloc: str) -> tuple[str, str]:
    scheme, netloc = scheme.lower(), netloc.lower()
    default = DEFAULT_PORTS.get(scheme)
    if default is not None and netloc.endswith(f":{default}"):
        netloc = netloc[: -len(f":{default}")]
    return scheme, netloc


def connection_string(endpoint: str, secret: str) -> str:
    """The Azure SignalR connection string of ``endpoint`` (scheme, host, port) and access key ``secret``."""
    return f"Endpoint={endpoint.rstrip('/')};AccessKey={secret};Version=1.0;"
