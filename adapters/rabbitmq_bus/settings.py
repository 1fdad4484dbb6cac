"""What the RabbitMQ bus is configured with, one field per environment variable; times in seconds."""

from typing import Annotated

import msgspec

from adapters.secret import Secret

AMQP_NAME = r"^[a-zA-Z0-9\-_.:@#,/+ ]*$"
"""The characters an exchange or queue name may hold: what pamqp, under aiormq, lets a declaration send."""


class RabbitmqSettings(msgspec.Struct, frozen=True, kw_only=True):
    url: Annotated[
        Secret,
        msgspec.Meta(
            description="AMQP URL of the broker: `amqp://user:password@host:port/vhost`, or `amqps://` for "
            "TLS (aiormq's query options such as `cafile`, `certfile`, `keyfile`, `heartbeat` apply)."
        ),
    ] = msgspec.field(default=Secret("amqp://guest:guest@127.0.0.1:5672/"), name="EVENTGATE_RABBITMQ_URL")
    exchange: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=255,
            pattern=AMQP_NAME,
            description="The durable topic exchange events are published to (routing key: the event "
            "name); declared at start. Letters, digits and `-_.:@#,/+` and space.",
        ),
    ] = msgspec.field(default="eventgate", name="EVENTGATE_RABBITMQ_EXCHANGE")
    queue: Annotated[
        str,
        msgspec.Meta(
            max_length=255,
            pattern=AMQP_NAME,
            description="A durable quorum queue declared at start and bound to the exchange with `#`; "
            "empty: declare none, bind your own queues.",
        ),
    ] = msgspec.field(default="eventgate", name="EVENTGATE_RABBITMQ_QUEUE")
    publish_deadline: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description="Seconds a publish may take, reconnecting and resending included, before it "
            "fails as unavailable.",
        ),
    ] = msgspec.field(default=10.0, name="EVENTGATE_RABBITMQ_PUBLISH_DEADLINE")
    connect_timeout: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description="Seconds one attempt to connect may take; also how long the start waits for the "
            "broker before it goes on without it.",
        ),
    ] = msgspec.field(default=2.0, name="EVENTGATE_RABBITMQ_CONNECT_TIMEOUT")
