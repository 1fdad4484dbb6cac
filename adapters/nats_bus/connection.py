"""How to reach NATS: nats-py's connect options from the settings, and text fit for a log.

The URLs, password and token are secrets: ``Redactor`` replaces every one of them (and the user
information of each URL) with ``***`` in text that may reach a log or an error message.
"""

import ssl
import urllib.parse
from typing import Any

from adapters.nats_bus.settings import NatsSettings

RECONNECT_WAIT = 0.25
"""Seconds between two attempts on the same server: short, as the publish deadline bounds the wait."""


class Redactor:
    def __init__(self, settings: NatsSettings) -> None:
        secrets = {settings.password.reveal(), settings.token.reveal()}
        for url in settings.servers():
            parts = urllib.parse.urlsplit(url)
            secrets.update({parts.netloc.rpartition("@")[0], parts.password or "", parts.username or ""})
        self._secrets = sorted((secret for secret in secrets if secret), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def server_names(settings: NatsSettings) -> str:
    """The servers as ``host:port``, without any credentials: how messages name them."""
    names = []
    for url in settings.servers():
        netloc = urllib.parse.urlsplit(url if "://" in url else f"nats://{url}").netloc
        names.append(netloc.rpartition("@")[2])
    return ", ".join(names)


def tls_context(settings: NatsSettings) -> ssl.SSLContext | None:
    """A context verifying the servers, with the client certificate when one is set; ``None`` when no
    TLS file is set (a ``tls://`` URL then makes nats-py use the system's CAs)."""
    if not (settings.tls_ca_file or settings.tls_cert_file):
        return None
    context = ssl.create_default_context(cafile=settings.tls_ca_file or None)
    if settings.tls_cert_file:
        context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file or None)
    return context


def connect_options(settings: NatsSettings) -> dict[str, Any]:
    """Keyword arguments of ``nats.aio.client.Client.connect``, callbacks aside.

    Reconnection never gives up (``max_reconnect_attempts=-1``): each publish is bounded by its own
    deadline instead, and the first connection may come long after the start.
    """
    options: dict[str, Any] = {
        "servers": settings.servers(),
        "name": "eventgate",
        "connect_timeout": settings.connect_timeout,
        "reconnect_time_wait": RECONNECT_WAIT,
        "max_reconnect_attempts": -1,
        "allow_reconnect": True,
    }
    if settings.user:
        options["user"] = settings.user
        options["password"] = settings.password.reveal()
    if settings.token:
        options["token"] = settings.token.reveal()
    if settings.credentials_file:
        options["user_credentials"] = settings.credentials_file
    if settings.nkey_seed_file:
        options["nkeys_seed"] = settings.nkey_seed_file
    context = tls_context(settings)
    if context is not None:
        options["tls"] = context
    return options
