"""Where the metrics of several worker processes meet."""

from typing import Annotated

import msgspec

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's own variable: it reads it once, when it is first imported, to pick its mode."""


class MetricsSettings(msgspec.Struct, frozen=True, kw_only=True):
    multiprocess_dir: Annotated[
        str | None,
        msgspec.Meta(
            description="Folder where each worker process writes its metric values, which every worker's "
            "`/metrics` adds up. `serve --workers N` makes a temporary one and removes it at shutdown; set it "
            "to choose the folder. Read by prometheus_client when the process starts."
        ),
    ] = msgspec.field(default=None, name=MULTIPROC_DIR_ENV)
