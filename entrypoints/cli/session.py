"""``eventgate session mint|decode``: make and read NextAuth session cookies, to debug sign-in."""

import argparse
import json
import sys
from collections.abc import Mapping
from typing import TextIO

import msgspec

from adapters.nextauth import (
    DecodeFailure,
    Version,
    claims_for_user,
    decode_session_cookie,
    mint_session_cookie,
)
from adapters.nextauth.codec import DEFAULT_MAX_AGE_SECONDS
from adapters.nextauth.settings import NextAuthSettings
from domain.user import User
from entrypoints.composition.environment import ConfigError, read_section


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    session = commands.add_parser("session", help="mint or decode NextAuth session cookies")
    actions = session.add_subparsers(dest="action", required=True, metavar="ACTION")

    mint = actions.add_parser("mint", help="print a Cookie header value signed with the configured secret")
    _version_option(mint)
    mint.add_argument("--sub", default="dev-user", help="the user id, the token's subject (default dev-user)")
    mint.add_argument("--name", help="the user's name")
    mint.add_argument("--email", help="the user's email")
    mint.add_argument("--image", help="the user's image URL (the token's picture)")
    mint.add_argument(
        "--max-age",
        type=int,
        default=DEFAULT_MAX_AGE_SECONDS,
        help="seconds until it expires (default 30 days)",
    )
    mint.add_argument("--cookie-name", help="cookie name (default: the version's plain name)")
    mint.set_defaults(run=run_session_command, session_command=mint_cookie)

    decode = actions.add_parser("decode", help="print the user and claims a Cookie header carries")
    decode.add_argument("cookie", nargs="?", help="the Cookie header value (default: read from stdin)")
    _version_option(decode)
    decode.add_argument(
        "--secret",
        action="append",
        default=[],
        help="a secret to try, repeatable (default: the configured ones)",
    )
    decode.add_argument("--cookie-name", help="cookie name (default: both of the version's names)")
    decode.add_argument("--now", type=float, help="judge expiry at this Unix time (default: now)")
    decode.set_defaults(run=run_session_command, session_command=decode_cookie)


def _version_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--version", type=int, choices=(4, 5), help="NextAuth version (default: EVENTGATE_NEXTAUTH_VERSION)"
    )


def run_session_command(arguments: argparse.Namespace, environ: Mapping[str, str]) -> int:
    nextauth = read_section(environ, NextAuthSettings)
    if arguments.version is not None:
        nextauth = msgspec.structs.replace(nextauth, version=arguments.version)
    cookie_name = arguments.cookie_name or nextauth.cookie_name or None
    exit_code: int = arguments.session_command(
        nextauth.version, nextauth.secrets(), cookie_name, arguments, sys.stdout
    )
    return exit_code


def mint_cookie(
    version: Version, secrets: list[str], cookie_name: str | None, arguments: argparse.Namespace, out: TextIO
) -> int:
    if not secrets:
        raise ConfigError("no session secret to sign with: set NEXTAUTH_SECRET (v4) or AUTH_SECRET (v5)")
    if arguments.max_age <= 0:
        raise ConfigError("--max-age must be a positive number of seconds")
    user = User(id=arguments.sub, name=arguments.name, email=arguments.email, image=arguments.image)
    cookie = mint_session_cookie(
        secrets[0], version, claims_for_user(user), max_age=arguments.max_age, cookie_name=cookie_name
    )
    print(cookie, file=out)
    return 0


def decode_cookie(
    version: Version, secrets: list[str], cookie_name: str | None, arguments: argparse.Namespace, out: TextIO
) -> int:
    header = arguments.cookie if arguments.cookie is not None else sys.stdin.read().strip()
    name, colon, value = header.partition(":")
    if colon and name.strip().lower() == "cookie":
        header = value.strip()
    secrets = arguments.secret or secrets
    if not secrets:
        raise ConfigError("no secret to decrypt with: pass --secret or set NEXTAUTH_SECRET / AUTH_SECRET")
    result = decode_session_cookie(header, secrets, version, cookie_name=cookie_name, now=arguments.now)
    if isinstance(result, DecodeFailure):
        hint = f": {NO_COOKIE_HINT}" if result.reason == "no session cookie" else ""
        print(f"{result.reason}{hint}", file=sys.stderr)
        return 1
    print(json.dumps(result.to_dict(), ensure_ascii=False), file=out)
    return 0


NO_COOKIE_HINT = (
    "give the Cookie header's value, such as 'next-auth.session-token=eyJ...' (v4) or "
    "'authjs.session-token=eyJ...' (v5), not a bare token"
)
