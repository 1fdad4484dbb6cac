"""The NATS bus against private nats-servers that ask for what a deployment may: a user and password,
an NKEY, TLS with a client certificate, and a cluster given as several URLs of which one is down.

Each test publishes an event and reads it back from the stream, so that the connection was not only
made but used. The keys and certificates are made by the test.
"""

import datetime
import ipaddress
import os
from pathlib import Path

import nats
import nkeys  # type: ignore[import-untyped]  # nkeys ships no type information
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.event_ids import new_event_id
from adapters.nats_bus import NatsSettings, open_nats_bus
from adapters.nats_bus.connection import tls_context
from adapters.secret import Secret
from domain.errors import SenderRefused
from domain.event import UserEvent
from tests.brokers import NatsServer, free_port
from tests.consumers import read_stream

pytestmark = pytest.mark.anyio

STREAM = "EVENTGATE"


def an_event() -> UserEvent:
    return UserEvent(name="app/clicked", data={"n": 1}, id=new_event_id(), ts=1_795_000_000_000)


def settings_for(url: str, **overrides: object) -> NatsSettings:
    fields: dict[str, object] = {"url": Secret(url), "publish_deadline": 3.0, "connect_timeout": 1.0}
    return NatsSettings(**(fields | overrides))  # type: ignore[arg-type]


async def published_and_stored(settings: NatsSettings, reader_url: str, **reader: object) -> None:
    """Publish an event with ``settings``; the stream, read with ``reader`` options, holds it."""
    event = an_event()
    async with open_nats_bus(settings) as bus:
        assert await bus.probe() is None
        assert await bus.publish([event]) == [event.id]
    client = await nats.connect(reader_url, **reader)
    try:
        info = await client.jetstream().stream_info(STREAM)
    finally:
        await client.close()
    assert info.state.messages == 1


async def test_a_user_and_password(tmp_path: Path) -> None:
    server = NatsServer(tmp_path, config='authorization { user: "app", password: "s3cr3t pass" }')
    server.start()
    try:
        settings = settings_for(server.url, user="app", password=Secret("s3cr3t pass"))
        await published_and_stored(settings, server.url, user="app", password="s3cr3t pass")
    finally:
        server.stop()


async def test_a_user_and_password_in_the_url(tmp_path: Path) -> None:
    server = NatsServer(tmp_path, config='authorization { user: "app", password: "s3cr3t" }')
    server.start()
    try:
        url = f"nats://app:s3cr3t@127.0.0.1:{server.port}"
        await published_and_stored(settings_for(url), url)
    finally:
        server.stop()


async def test_an_nkey_user(tmp_path: Path) -> None:
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(bytearray(seed)).public_key.decode()
    seed_file = tmp_path / "user.nk"
    seed_file.write_bytes(seed)
    seed_file.chmod(0o600)
    server = NatsServer(tmp_path, config=f'authorization {{ users: [ {{ nkey: "{public}" }} ] }}')
    server.start()
    try:
        settings = settings_for(server.url, nkey_seed_file=str(seed_file))
        await published_and_stored(settings, server.url, nkeys_seed=str(seed_file))
    finally:
        server.stop()


async def test_the_seed_of_an_nkey_the_server_does_not_know_is_rejected_credentials(tmp_path: Path) -> None:
    known = nkeys.from_seed(bytearray(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)))
    seed_file = tmp_path / "other.nk"
    seed_file.write_bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))
    server = NatsServer(
        tmp_path, config=f'authorization {{ users: [ {{ nkey: "{known.public_key.decode()}" }} ] }}'
    )
    server.start()
    try:
        async with open_nats_bus(settings_for(server.url, nkey_seed_file=str(seed_file))) as bus:
            with pytest.raises(SenderRefused) as refused:
                await bus.publish([an_event()])
    finally:
        server.stop()

    assert refused.value.cause == "credentials rejected"


class Pki:
    """A certificate authority made for the test, and certificates it signs, written as PEM files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eventgate test CA")])
        self.ca = self._write(
            "ca",
            self._builder(self._name, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256()),
            self._key,
        )[0]

    def issue(self, stem: str, *, server: bool) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, stem)])
        builder = self._builder(subject, key.public_key()).add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return self._write(stem, builder.sign(self._key, hashes.SHA256()), key)

    def _builder(self, subject: x509.Name, public: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
        )

    def _write(
        self, stem: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
    ) -> tuple[Path, Path]:
        cert_file, key_file = self.folder / f"{stem}.pem", self.folder / f"{stem}-key.pem"
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_file, key_file


async def test_tls_with_a_private_ca_and_a_client_certificate(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    server_cert, server_key = pki.issue("server", server=True)
    client_cert, client_key = pki.issue("eventgate", server=False)
    server = NatsServer(
        tmp_path,
        config=(
            f'tls {{ cert_file: "{server_cert}", key_file: "{server_key}", ca_file: "{pki.ca}", '
            "verify: true, timeout: 2 }"
        ),
    )
    server.start()
    try:
        settings = settings_for(
            f"tls://127.0.0.1:{server.port}",
            tls_ca_file=str(pki.ca),
            tls_cert_file=str(client_cert),
            tls_key_file=str(client_key),
        )
        reader = {"tls": tls_context(settings)}
        await published_and_stored(settings, f"tls://127.0.0.1:{server.port}", **reader)
    finally:
        server.stop()


async def test_a_cluster_url_list_whose_first_servers_are_down(tmp_path: Path) -> None:
    """nats-py shuffles the list: with three servers down and one up, it meets a dead one first three
    times out of four, and goes on to the next."""
    server = NatsServer(tmp_path)
    server.start()
    try:
        down = [f"nats://127.0.0.1:{free_port()}" for _ in range(3)]
        settings = settings_for(", ".join([*down, server.url]))
        event = an_event()
        async with open_nats_bus(settings) as bus:
            assert await bus.probe() is None
            assert await bus.publish([event]) == [event.id]
        stored = await read_stream(server.url, STREAM, "eventgate.>")
    finally:
        server.stop()
    assert [arrival.event_id for arrival in stored] == [event.id]
