"""What the NATS JetStream bus is configured with, one field per environment variable.

The composition parses the environment into this struct; times are in seconds.
``EVENTGATE_NATS_URL`` is a comma-separated list of server URLs, kept whole as a secret since a URL
may carry a user and password or a token; the adapter splits it.
"""

from typing import Annotated

import msgspec

from adapters.secret import Secret

MIN_DUPLICATE_WINDOW = 120.0


class NatsSettings(msgspec.Struct, frozen=True, kw_only=True):
    url: Annotated[
        Secret,
        msgspec.Meta(
            description="NATS server URLs, comma-separated for a cluster (`nats://`, or `tls://` for TLS); "
            "may carry `user:password@` or a `token@`."
        ),
    ] = msgspec.field(default=Secret("nats://127.0.0.1:4222"), name="EVENTGATE_NATS_URL")
    stream: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            pattern=r"^[^\s.*>/\\]+$",
            description="The JetStream stream events are stored in; created at start when absent.",
        ),
    ] = msgspec.field(default="EVENTGATE", name="EVENTGATE_NATS_STREAM")
    subject_prefix: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            description="Events are published on `<prefix>.<event name>`; the stream captures `<prefix>.>`.",
        ),
    ] = msgspec.field(default="eventgate", name="EVENTGATE_NATS_SUBJECT_PREFIX")
    duplicate_window: Annotated[
        float,
        msgspec.Meta(
            ge=MIN_DUPLICATE_WINDOW,
            description="Seconds within which JetStream drops an event whose id it has stored already "
            "(the stream's duplicate window; at least 120).",
        ),
    ] = msgspec.field(default=MIN_DUPLICATE_WINDOW, name="EVENTGATE_NATS_DUPLICATE_WINDOW")
    publish_deadline: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description="Seconds a publish may take, reconnecting and resending included, before it "
            "fails as unavailable.",
        ),
    ] = msgspec.field(default=10.0, name="EVENTGATE_NATS_PUBLISH_DEADLINE")
    connect_timeout: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description="Seconds one attempt to connect to a server may take; also how long the start "
            "waits for NATS before it goes on without it.",
        ),
    ] = msgspec.field(default=2.0, name="EVENTGATE_NATS_CONNECT_TIMEOUT")
    user: Annotated[str, msgspec.Meta(description="User name, when the server wants user and password.")] = (
        msgspec.field(default="", name="EVENTGATE_NATS_USER")
    )
    password: Annotated[Secret, msgspec.Meta(description="Password of `EVENTGATE_NATS_USER`.")] = (
        msgspec.field(default=Secret(""), name="EVENTGATE_NATS_PASSWORD")
    )
    token: Annotated[Secret, msgspec.Meta(description="Token, when the server authenticates by token.")] = (
        msgspec.field(default=Secret(""), name="EVENTGATE_NATS_TOKEN")
    )
    credentials_file: Annotated[
        str,
        msgspec.Meta(description="Path of a `.creds` file (user JWT and NKEY seed), for decentralized auth."),
    ] = msgspec.field(default="", name="EVENTGATE_NATS_CREDENTIALS_FILE")
    nkey_seed_file: Annotated[
        str, msgspec.Meta(description="Path of a file holding the user's NKEY seed, for NKEY auth.")
    ] = msgspec.field(default="", name="EVENTGATE_NATS_NKEY_SEED_FILE")
    tls_ca_file: Annotated[
        str, msgspec.Meta(description="CA certificates (PEM) to verify the servers with; implies TLS.")
    ] = msgspec.field(default="", name="EVENTGATE_NATS_TLS_CA_FILE")
    tls_cert_file: Annotated[
        str, msgspec.Meta(description="Client certificate (PEM) for mutual TLS; implies TLS.")
    ] = msgspec.field(default="", name="EVENTGATE_NATS_TLS_CERT_FILE")
    tls_key_file: Annotated[str, msgspec.Meta(description="Private key (PEM) of the client certificate.")] = (
        msgspec.field(default="", name="EVENTGATE_NATS_TLS_KEY_FILE")
    )

    def servers(self) -> list[str]:
        """The server URLs, as given."""
        return [part.strip() for part in self.url.reveal().split(",") if part.strip()]
