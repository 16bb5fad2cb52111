"""A minimal Docker Registry HTTP API v2 client, for the proof (app.registry.prove), the ops and the screens.

Standard library only (http.client, ssl): what it proves is what any client on
this machine would see, with no library's retries or fallbacks hiding a fault.
Every failure becomes a RegistryError whose message says what failed and the
likely cause, so the wizard can show it to a person as is.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from app.i18n import _

SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA = "application/vnd.docker.container.image.v1+json"
LAYER_MEDIA = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
#: Every manifest kind regwiz understands: without the list/index types in Accept, the registry would
#: answer a multi-platform tag with a converted (or refused) manifest and another digest.
MANIFEST_ACCEPT = ", ".join((SCHEMA2, MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX))
INDEX_MEDIA = (MANIFEST_LIST, OCI_INDEX)

# The distribution spec's repository name grammar: checked here so a bad name
# gets a clear message instead of a puzzling 404 or 400 from the registry.
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_REDIRECTS = (301, 302, 303, 307, 308)

# OpenSSL's words when a TLS client is answered by a plain-HTTP server.
_PLAIN_HTTP_SIGNS = ("wrong version number", "record layer failure", "http request", "packet length too long")
# OpenSSL verify codes: the chain does not lead to a trusted CA.
_UNKNOWN_AUTHORITY = {2, 18, 19, 20, 21}
_NAME_MISMATCH = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH


class RegistryError(Exception):
    """A failure, worded for a person: what failed and the likely cause."""

    def __init__(self, message: str, status: int | None = None, codes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.codes = codes  # the registry's error codes (e.g. "UNSUPPORTED"), when it sent any


class RegistryTLSError(RegistryError):
    """The TLS handshake or certificate check failed, or the two sides disagree on TLS."""


class RegistryAuthError(RegistryError):
    """The registry refused the credentials, or wants some and none were given."""


class CredentialsRefused(RegistryAuthError):
    """The registry refused the user name and password it was sent (callers advise by this type)."""


@dataclass
class RegistryEndpoint:
    host: str  # IP or name as the clients will use it
    port: int = 5000
    tls: bool = True
    ca_pem: bytes | None = None  # trust only this CA when set (else the system store)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 15.0

    def __post_init__(self) -> None:
        self.host = self.host.strip("[]")  # "[::1]" and "::1" mean the same host

    @property
    def address(self) -> str:
        return f"{_bracketed(self.host)}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}"

    @property
    def has_credentials(self) -> bool:
        return bool(self.username)


@dataclass(frozen=True)
class ManifestHead:
    digest: str
    media_type: str
    size: int  # the manifest's own bytes


@dataclass
class _Response:
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes
    sent_credentials: bool

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass(frozen=True)
class _Target:
    """Where one request goes: the registry itself, or a host it redirected to."""

    tls: bool
    host: str
    port: int
    path: str  # path and query

    @property
    def address(self) -> str:
        return f"{_bracketed(self.host)}:{self.port}"


#: Seconds a kept-alive connection may sit idle and still be reused: the requests of one proof or push.
KEEP_IDLE = 5.0


class RegistryClient:
    """Synchronous; regwiz calls it with asyncio.to_thread. Requests to the registry itself reuse one
    kept-alive connection (as Docker's clients do: over a slow link a new TCP and TLS handshake per request
    costs two round trips more); a storage host it redirects to gets a connection per request."""

    def __init__(self, endpoint: RegistryEndpoint) -> None:
        self.endpoint = endpoint
        # Kept connections and when each was last used: one idle longer than KEEP_IDLE is not reused (a NAT
        # or firewall may have dropped it without a word, and a request on it would wait for the timeout).
        self._idle: dict[tuple[bool, str, int], tuple[http.client.HTTPConnection, float]] = {}
        self._idle_lock = threading.Lock()

    def close(self) -> None:
        """Close the kept-alive connections (a client dropped without it closes them when collected)."""
        with self._idle_lock:
            idle, self._idle = list(self._idle.values()), {}
        for connection, _used in idle:
            connection.close()

    # --- the API -------------------------------------------------------------------

    def tls_handshake(self) -> dict:
        """Complete a verified TLS handshake and describe the certificate the registry shows."""
        ep = self.endpoint
        if not ep.tls:
            raise RegistryError(_("{address} is configured for plain HTTP: there is no TLS handshake to make").format(
                address=ep.address))
        target = _Target(True, ep.host, ep.port, "/")
        try:
            with socket.create_connection((ep.host, ep.port), timeout=ep.timeout) as raw:
                with self._context.wrap_socket(raw, server_hostname=ep.host) as tls:
                    return _describe_certificate(tls)
        except OSError as exc:  # ssl.SSLError is an OSError too
            raise self._translate(exc, target) from exc

    def ping(self, with_auth: bool = True) -> int:
        """GET /v2/: 200, or 401 when the registry wants credentials; anything else raises."""
        response = self._request("GET", "/v2/", auth=with_auth)
        if response.status in (200, 401):
            if response.status == 401 and response.sent_credentials:
                raise self._http_error(response, "GET /v2/")
            return response.status
        if response.status == 404:
            raise RegistryError(_("something answers HTTP at {address} but it is not a Docker registry ({request} "
                                  "gave 404)").format(address=self.endpoint.address, request="GET /v2/"), status=404)
        raise self._http_error(response, "GET /v2/")

    def login(self) -> None:
        """GET /v2/ with basic auth must give 200."""
        if not self.endpoint.has_credentials:
            raise RegistryAuthError(_("no user name is configured to log in with"))
        response = self._request("GET", "/v2/")
        if response.status != 200:
            error = self._http_error(response, "log in")
            raise error if isinstance(error, RegistryAuthError) else RegistryAuthError(str(error), error.status,
                                                                                       error.codes)

    def push_blob(self, repository: str, data: bytes, fresh: bool = False) -> str:
        """Upload data as a blob (monolithic upload) unless the registry has it; returns its digest.

        ``fresh``: the data was made for this push (the proof's random image), so the registry cannot have
        it yet: the HEAD that asks is skipped (with htpasswd, each request costs the registry a bcrypt
        check). Uploading a blob the registry has anyway is harmless: it stores the same bytes again."""
        digest = _sha256(data)
        if not fresh:
            path = f"/v2/{_checked_repository(repository)}/blobs/{digest}"
            head = self._request("HEAD", path)
            if head.status == 200:
                return digest  # already there: the registry shares blobs across pushes
            if head.status != 404:
                raise self._http_error(head, f"check for blob {digest}")
        location = self._start_upload(repository)
        joiner = "&" if "?" in location else "?"
        put = self._request("PUT", f"{location}{joiner}digest={quote(digest, safe='')}", body=data,
                            headers={"Content-Type": "application/octet-stream"})
        if put.status != 201:
            raise self._http_error(put, f"upload blob {digest}")
        return digest

    def put_manifest(self, repository: str, reference: str, manifest: bytes, media_type: str) -> str:
        """PUT a manifest under a tag (or digest); returns the digest the registry gives it."""
        path = f"/v2/{_checked_repository(repository)}/manifests/{_checked_reference(reference)}"
        response = self._request("PUT", path, body=manifest, headers={"Content-Type": media_type})
        if response.status != 201:
            if response.status == 405 or "UNSUPPORTED" in _error_codes(response.body):
                raise _push_refused(response)
            raise self._http_error(response, f"push manifest {repository}:{reference}")
        return response.header("Docker-Content-Digest") or _sha256(manifest)

    def get_manifest(self, repository: str, reference: str, accept: str = SCHEMA2) -> tuple[bytes, str]:
        """Return (body, digest), checking the body against the digest the registry states."""
        path = f"/v2/{_checked_repository(repository)}/manifests/{_checked_reference(reference)}"
        response = self._request("GET", path, headers={"Accept": accept})
        if response.status != 200:
            raise self._http_error(response, f"pull manifest {repository}:{reference}")
        stated = response.header("Docker-Content-Digest")
        if stated:
            _verify_digest(response.body, stated, f"manifest {repository}:{reference}")
        if reference.startswith("sha256:"):
            _verify_digest(response.body, reference, f"manifest {repository}@{reference}")
        return response.body, stated or _sha256(response.body)

    def head_manifest(self, repository: str, reference: str, accept: str = MANIFEST_ACCEPT) -> "ManifestHead | None":
        """HEAD a manifest: its digest, media type and size, or None when the registry has no such manifest."""
        path = f"/v2/{_checked_repository(repository)}/manifests/{_checked_reference(reference)}"
        response = self._request("HEAD", path, headers={"Accept": accept})
        if response.status == 404:
            return None
        if response.status != 200:
            raise self._http_error(response, f"look up manifest {repository}:{reference}")
        digest = response.header("Docker-Content-Digest") or (reference if reference.startswith("sha256:") else "")
        if not digest:
            raise RegistryError(_("the registry gave no digest for {reference} (no Docker-Content-Digest header)")
                                .format(reference=f"{repository}:{reference}"), status=200)
        return ManifestHead(digest, (response.header("Content-Type") or "").split(";")[0].strip(),
                            int(response.header("Content-Length") or 0))

    def get_blob(self, repository: str, digest: str) -> bytes:
        """GET a blob, following a storage redirect, and check it hashes to its digest."""
        response = self._request("GET", f"/v2/{_checked_repository(repository)}/blobs/{digest}", follow=True)
        if response.status != 200:
            raise self._http_error(response, f"pull blob {digest}")
        _verify_digest(response.body, digest, f"blob {digest}")
        return response.body

    def delete_manifest(self, repository: str, digest: str) -> None:
        """DELETE a manifest by digest (the registry refuses deletes by tag)."""
        response = self._request("DELETE", f"/v2/{_checked_repository(repository)}/manifests/{digest}")
        if response.status == 202:
            return
        if response.status == 405:
            raise RegistryError(
                _("the registry refuses deletes: deletion is disabled in its config ({setting} turns it on)").format(
                    setting="storage: delete: enabled: true") + _registry_says(response.body), status=405,
                codes=_error_codes(response.body))
        raise self._http_error(response, f"delete manifest {digest}")

    def catalog(self) -> list[str]:
        """Every repository, following the Link header's pages."""
        return self._paged("/v2/_catalog", "repositories", "list repositories")

    def tags(self, repository: str) -> list[str]:
        return self._paged(f"/v2/{_checked_repository(repository)}/tags/list", "tags", f"list tags of {repository}")

    def tags_or_none(self, repository: str) -> list[str]:
        """The tags, or [] for a repository the registry no longer knows (all its tags deleted: 404)."""
        try:
            return self.tags(repository)
        except RegistryError as exc:
            if exc.status == 404:
                return []
            raise

    # --- requests ------------------------------------------------------------------

    def _start_upload(self, repository: str) -> str:
        """POST an upload session; returns its Location. A pull-through cache refuses here."""
        response = self._request("POST", f"/v2/{_checked_repository(repository)}/blobs/uploads/")
        if response.status == 202 and response.header("Location"):
            return response.header("Location") or ""
        if response.status == 405 or "UNSUPPORTED" in _error_codes(response.body):
            raise _push_refused(response)
        if response.status == 202:
            raise RegistryError(_("the registry started an upload but gave no Location to send it to"), status=202)
        raise self._http_error(response, f"start a blob upload to {repository}")

    def _paged(self, path: str, key: str, action: str) -> list[str]:
        found: list[str] = []
        next_path: str | None = path
        for _page in range(1000):  # a bound, in case a broken registry links a page to itself
            if next_path is None:
                break
            response = self._request("GET", next_path)
            if response.status != 200:
                raise self._http_error(response, action)
            found += _json_object(response.body, action).get(key) or []  # "tags": null when none
            next_path = _next_link(response.header("Link"))
        return found

    def _request(self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                 auth: bool = True, follow: bool = False) -> _Response:
        target = self._target(url)
        for _hop in range(5):
            response = self._send(method, target, body, headers or {}, auth)
            location = response.header("Location")
            if not (follow and response.status in _REDIRECTS and location):
                return response
            target = self._target(urljoin(f"{'https' if target.tls else 'http'}://{target.address}{target.path}",
                                          location))
        raise RegistryError(_("{request} was redirected more than 5 times: the registry's storage redirects loop")
                            .format(request=f"{method} {url}"))

    def _send(self, method: str, target: _Target, body: bytes | None, headers: dict[str, str],
              auth: bool) -> _Response:
        own = self._is_registry(target)
        headers = {"User-Agent": "regwiz", **headers}
        # Credentials go only to the registry itself, never to a storage host it redirects to.
        send_credentials = auth and own and self.endpoint.has_credentials
        if send_credentials:
            headers["Authorization"] = _basic_auth(self.endpoint.username or "", self.endpoint.password or "")
        key = (target.tls, target.host, target.port)
        reused = None
        if own:
            with self._idle_lock:
                kept = self._idle.pop(key, None)
            if kept is not None and time.monotonic() - kept[1] < KEEP_IDLE:
                reused = kept[0]
            elif kept is not None:
                kept[0].close()
        connection = reused or self._connection(target, own)
        keep = False
        try:
            try:
                connection.request(method, target.path, body=body, headers=headers)
                answer = connection.getresponse()
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                if reused is None:
                    raise
                # The kept connection was closed by the registry while idle (nothing was answered on
                # it): once more on a new one.
                connection.close()
                connection = self._connection(target, own)
                connection.request(method, target.path, body=body, headers=headers)
                answer = connection.getresponse()
            data = answer.read()
            keep = own and not answer.will_close
            return _Response(answer.status, answer.reason, answer.headers, data, send_credentials)
        except (OSError, http.client.HTTPException) as exc:
            raise self._translate(exc, target) from exc
        finally:
            if keep:
                with self._idle_lock:
                    extra = self._idle.get(key)
                    self._idle[key] = (connection, time.monotonic())
                if extra is not None:  # two threads at once: keep one
                    extra[0].close()
            else:
                connection.close()

    def _connection(self, target: _Target, own: bool) -> http.client.HTTPConnection:
        timeout = self.endpoint.timeout
        if not target.tls:
            return http.client.HTTPConnection(target.host, target.port, timeout=timeout)
        # A storage host (S3 and the like) is checked against the system store, not the registry's CA.
        context = self._context if own else ssl.create_default_context()
        return http.client.HTTPSConnection(target.host, target.port, timeout=timeout, context=context)

    @cached_property
    def _context(self) -> ssl.SSLContext:
        ca_pem = self.endpoint.ca_pem
        try:
            # With cadata, only that CA is trusted: the system store is not loaded.
            return ssl.create_default_context(cadata=ca_pem.decode("ascii") if ca_pem else None)
        except (ssl.SSLError, ValueError, UnicodeDecodeError) as exc:
            raise RegistryTLSError(_("the CA certificate given is not a usable PEM certificate ({error})").format(
                error=exc)) from exc

    def _target(self, url: str) -> _Target:
        absolute = urljoin(self.endpoint.base_url + "/", url)
        parts = urlsplit(absolute)
        tls = parts.scheme == "https"
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return _Target(tls, parts.hostname or self.endpoint.host, parts.port or (443 if tls else 80), path or "/")

    def _is_registry(self, target: _Target) -> bool:
        ep = self.endpoint
        return (target.host.lower(), target.port) == (ep.host.lower(), ep.port)

    # --- errors --------------------------------------------------------------------

    def _translate(self, exc: Exception, target: _Target) -> RegistryError:
        """A socket, TLS or HTTP-parsing failure, as a sentence that says what to do."""
        address, timeout = target.address, self.endpoint.timeout
        if isinstance(exc, ssl.SSLCertVerificationError):
            return self._certificate_error(exc, target)
        if isinstance(exc, ssl.SSLError):
            return _tls_error(exc, address)
        if isinstance(exc, ConnectionRefusedError):
            return RegistryError(_("nothing listens on {address}: is the registry container running and the "
                                   "port published?").format(address=address))
        if isinstance(exc, TimeoutError):
            return RegistryError(_("{address} did not answer within {seconds:g} s: a firewall or cloud security "
                                   "group may block the port").format(address=address, seconds=timeout))
        if isinstance(exc, socket.gaierror):
            return RegistryError(_("cannot resolve {host}: {reason}; use an address this machine can resolve, or "
                                   "its IP address").format(host=target.host, reason=exc.strerror))
        if isinstance(exc, (ConnectionResetError, http.client.RemoteDisconnected)):
            if not target.tls:
                return RegistryError(_("{address} closed the connection without answering (a TLS server spoken "
                                       "to in plain HTTP?)").format(address=address))
            return RegistryError(_("{address} closed the connection without answering").format(address=address))
        if isinstance(exc, http.client.HTTPException):
            return RegistryError(_("{address} did not answer in HTTP ({error}): is it a Docker registry?").format(
                address=address, error=f"{type(exc).__name__}: {exc}"))
        reason = getattr(exc, "strerror", None) or str(exc)
        return RegistryError(_("cannot reach {address}: {reason}; check the address, routes and firewalls").format(
            address=address, reason=reason))

    def _certificate_error(self, exc: ssl.SSLCertVerificationError, target: _Target) -> RegistryTLSError:
        code, why = exc.verify_code, exc.verify_message
        if code in _UNKNOWN_AUTHORITY:
            whom = _("the CA given") if self.endpoint.ca_pem \
                else _("a CA this machine trusts (give the registry's CA)")
            return RegistryTLSError(_("the registry's certificate is not signed by {whom} ({why})").format(
                whom=whom, why=why))
        if code in _NAME_MISMATCH:
            hint = _("an IP address needs an IP SAN") if _is_ip(target.host) \
                else _("the name must be one of its SANs")
            names = _names_in_certificate(target, self.endpoint.timeout)
            shown = _("; it names {names}").format(names=", ".join(names)) if names else ""
            return RegistryTLSError(_("the certificate does not name {host} ({hint})").format(host=target.host,
                                                                                             hint=hint) + shown)
        if code == 10:
            return RegistryTLSError(_("the registry's certificate has expired ({why}): renew it").format(why=why))
        if code == 9:
            return RegistryTLSError(_("the registry's certificate is not valid yet ({why}): check both clocks").format(
                why=why))
        return RegistryTLSError(_("the registry's certificate was refused: {why}").format(why=why))

    def _http_error(self, response: _Response, action: str) -> RegistryError:
        """An unexpected HTTP status, with the registry's own error text when it sent some."""
        status, codes, says = response.status, _error_codes(response.body), _registry_says(response.body)
        if status == 401:
            return self._auth_error(response, says)
        if status == 400 and b"HTTPS server" in response.body:
            # Go's TLS server answers a plain-HTTP request with this 400.
            return RegistryTLSError(_("the registry speaks HTTPS, not plain HTTP: use {url}").format(
                url=f"https://{self.endpoint.address}"), status=400)
        return RegistryError(_("{action} failed: {address} answered {status}").format(
            action=action, address=self.endpoint.address, status=f"{status} {response.reason}") + says,
                             status=status, codes=codes)

    def _auth_error(self, response: _Response, says: str) -> RegistryAuthError:
        codes = _error_codes(response.body)
        challenge = response.header("WWW-Authenticate") or ""
        if challenge.lower().startswith("bearer"):
            return RegistryAuthError(_("the registry uses token authentication ({challenge}), which this check "
                                       "does not support").format(challenge=challenge), status=401, codes=codes)
        if response.sent_credentials:
            return CredentialsRefused(_("the registry refused the user {user}: wrong password or unknown user").format(
                user=self.endpoint.username) + says, status=401, codes=codes)
        return RegistryAuthError(_("the registry requires a login: give a user name and password") + says,
                                 status=401, codes=codes)


# --- helpers -------------------------------------------------------------------------


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _verify_digest(data: bytes, digest: str, what: str) -> None:
    algorithm, _colon, expected = digest.partition(":")
    try:
        actual = hashlib.new(algorithm, data).hexdigest()
    except ValueError as exc:
        raise RegistryError(_("{what}: unknown digest algorithm {algorithm}").format(
            what=what, algorithm=repr(algorithm))) from exc
    if actual != expected:
        raise RegistryError(_("{what} does not match its digest: the registry sent {actual}, expected {digest} "
                              "(storage corruption, or a proxy altering the data)").format(
                                  what=what, actual=f"{algorithm}:{actual}", digest=digest))


def _basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def is_valid_repository(repository: str) -> bool:
    return bool(_REPOSITORY.match(repository))


def _checked_repository(repository: str) -> str:
    if not _REPOSITORY.match(repository):
        raise RegistryError(_("{repository} is not a valid repository name: lower-case letters, digits and "
                              "separators (. _ - /)").format(repository=repr(repository)))
    return repository


def _checked_reference(reference: str) -> str:
    if not (_TAG.match(reference) or re.match(r"^[a-z0-9]+:[a-f0-9]{32,}$", reference)):
        raise RegistryError(_("{reference} is neither a valid tag nor a digest").format(reference=repr(reference)))
    return reference


def _json_object(body: bytes, action: str) -> dict:
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise RegistryError(_("{action}: the registry's answer is not JSON").format(action=action)) from exc
    if not isinstance(value, dict):
        raise RegistryError(_("{action}: the registry's answer is not a JSON object").format(action=action))
    return value


def _registry_errors(body: bytes) -> list[dict]:
    """The {"errors": [{"code", "message"}]} body the registry sends with failures."""
    try:
        errors = json.loads(body).get("errors")
    except (ValueError, AttributeError):
        return []
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _error_codes(body: bytes) -> tuple[str, ...]:
    return tuple(str(e.get("code")) for e in _registry_errors(body) if e.get("code"))


def _registry_says(body: bytes) -> str:
    parts = [f"{e.get('code')}: {e.get('message')}" for e in _registry_errors(body)]
    return _(" (the registry says {errors})").format(errors="; ".join(parts)) if parts else ""


def _push_refused(response: _Response) -> RegistryError:
    return RegistryError(_("this registry refuses pushes (a pull-through cache is read-only)")
                         + _registry_says(response.body), status=response.status, codes=_error_codes(response.body))


def _next_link(link: str | None) -> str | None:
    """The next page from a Link header: '</v2/_catalog?last=a&n=100>; rel="next"'."""
    if not link or 'rel="next"' not in link:
        return None
    match = re.search(r"<([^>]+)>", link)
    return match.group(1) if match else None


def _tls_error(exc: ssl.SSLError, address: str) -> RegistryTLSError:
    text = f"{exc.reason or ''} {exc}".lower()
    if any(sign in text for sign in _PLAIN_HTTP_SIGNS):
        return RegistryTLSError(f"the registry speaks plain HTTP, not HTTPS: use http://{address}, or turn TLS "
                                f"on in the registry ({exc.reason or exc})")
    if isinstance(exc, ssl.SSLEOFError) or "eof" in text:
        return RegistryTLSError(f"{address} closed the connection during the TLS handshake: is it a TLS server?")
    return RegistryTLSError(f"the TLS handshake with {address} failed: {exc.reason or exc}")


def _describe_certificate(tls: ssl.SSLSocket) -> dict:
    cert: dict[str, Any] = dict(tls.getpeercert() or {})  # (typeshed's union of value types, read as Any)
    return {
        "protocol": tls.version(),
        "subject": _distinguished_name(cert.get("subject", ())),
        "issuer": _distinguished_name(cert.get("issuer", ())),
        "not_after": _iso_time(cert.get("notAfter")),
        "serial": cert.get("serialNumber", ""),  # hex, as OpenSSL prints it
        "sans": [f"{'IP' if kind == 'IP Address' else kind}:{value}" for kind, value in
                 cert.get("subjectAltName", ())],
    }


def _distinguished_name(rdns: tuple) -> str:
    return ", ".join(f"{key}={value}" for rdn in rdns for key, value in rdn)


def _iso_time(openssl_time: str | None) -> str | None:
    if not openssl_time:
        return None
    seconds = ssl.cert_time_to_seconds(openssl_time)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _names_in_certificate(target: _Target, timeout: float) -> list[str]:
    """Best effort: the SANs of a certificate that failed the name check, to show what it does name."""
    try:
        from cryptography import x509  # a regwiz dependency; loaded only to explain this failure

        unchecked = ssl.create_default_context()
        unchecked.check_hostname = False
        unchecked.verify_mode = ssl.CERT_NONE  # only to read the names: nothing is trusted from this connection
        with socket.create_connection((target.host, target.port), timeout=timeout) as raw:
            with unchecked.wrap_socket(raw, server_hostname=target.host) as tls:
                der = tls.getpeercert(binary_form=True)
        if der is None:
            return []  # (no certificate offered: nothing to read)
        sans = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = [f"DNS:{n}" for n in sans.value.get_values_for_type(x509.DNSName)]
        return names + [f"IP:{ip}" for ip in sans.value.get_values_for_type(x509.IPAddress)]
    except Exception:  # noqa: BLE001 - an explanation's extra detail must never hide the real error
        return []
