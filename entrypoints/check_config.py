"""``eventgate check-config``: every variable, where its value comes from, and whether it all works."""

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import TextIO

from entrypoints.container import build_container
from entrypoints.settings import VARIABLES, ConfigError

HIDDEN = "(set, hidden)"


def add_check_config_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    check = commands.add_parser(
        "check-config", help="show the configuration (secrets hidden) and check it as `serve` does at start"
    )
    check.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    check.set_defaults(run=lambda arguments: check_config(os.environ, as_json=arguments.json, out=sys.stdout))


def describe(environ: Mapping[str, str]) -> list[dict[str, str]]:
    """Each variable with its value as shown (secrets hidden) and its source: environment or default."""
    rows = []
    for variable in VARIABLES:
        value = environ.get(variable.env, variable.default)
        rows.append(
            {
                "variable": variable.env,
                "value": HIDDEN if variable.secret and value else value,
                "source": "environment" if variable.env in environ else "default",
            }
        )
    return rows


def check_config(environ: Mapping[str, str], *, as_json: bool, out: TextIO) -> int:
    """Print the configuration, then check it exactly as ``eventgate serve`` does; 2 when it is wrong."""
    rows = describe(environ)
    try:
        build_container(environ)
    except ConfigError as error:
        problem: str | None = str(error)
    else:
        problem = None
    if as_json:
        print(json.dumps({"valid": problem is None, "problem": problem, "variables": rows}), file=out)
    else:
        width = max(len(row["variable"]) for row in rows)
        for row in rows:
            print(f"{row['variable']:<{width}}  {row['value'] or '-'}  ({row['source']})", file=out)
        print(
            "configuration is valid" if problem is None else f"configuration is NOT valid: {problem}",
            file=out,
        )
    return 0 if problem is None else 2
