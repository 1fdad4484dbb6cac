"""How eventgate reads the Next.js app's NextAuth / Auth.js session: its version, secrets and cookie."""

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from adapters.secret import Secret

_ROTATED = "Rotated secrets, tried in Auth.js's order: `AUTH_SECRET_3`, `_2`, `_1`, then `AUTH_SECRET`."


class NextAuthSettings(msgspec.Struct, frozen=True, kw_only=True):
    version: Annotated[
        Literal[4, 5],
        Meta(
            description="`4`: next-auth v4 (`getServerSession`); `5`: Auth.js v5 (`@auth/core`, `next-auth@5`)."
        ),
    ] = msgspec.field(default=4, name="EVENTGATE_NEXTAUTH_VERSION")
    nextauth_secret: Annotated[
        Secret,
        Meta(
            description="The app's session secret (next-auth v4's variable; v5 reads it when no "
            "`AUTH_SECRET` is set)."
        ),
    ] = msgspec.field(default=Secret(""), name="NEXTAUTH_SECRET")
    auth_secret: Annotated[
        Secret,
        Meta(
            description="The app's session secret (Auth.js v5's variable; v4 reads it when no "
            "`NEXTAUTH_SECRET` is set)."
        ),
    ] = msgspec.field(default=Secret(""), name="AUTH_SECRET")
    auth_secret_1: Annotated[Secret, Meta(description=_ROTATED)] = msgspec.field(
        default=Secret(""), name="AUTH_SECRET_1"
    )
    auth_secret_2: Annotated[Secret, Meta(description=_ROTATED)] = msgspec.field(
        default=Secret(""), name="AUTH_SECRET_2"
    )
    auth_secret_3: Annotated[Secret, Meta(description=_ROTATED)] = msgspec.field(
        default=Secret(""), name="AUTH_SECRET_3"
    )
    cookie_name: Annotated[
        str,
        Meta(
            description="The session cookie's name, when the app renamed it; by default both the plain "
            "and the `__Secure-` name of the version are read."
        ),
    ] = msgspec.field(default="", name="EVENTGATE_SESSION_COOKIE")
    allow_bearer: Annotated[
        bool,
        Meta(
            description="Also accept the session token as `Authorization: Bearer <token>` when no cookie "
            "is sent, as NextAuth's `getToken` does."
        ),
    ] = msgspec.field(default=False, name="EVENTGATE_SESSION_BEARER")

    def secrets(self) -> list[str]:
        """The secrets in the order the app's library tries them; the first one signs new sessions.

        next-auth v4 reads ``NEXTAUTH_SECRET``; Auth.js v5 builds ``[AUTH_SECRET_3, AUTH_SECRET_2,
        AUTH_SECRET_1, AUTH_SECRET]`` from whichever are set. Each also falls back to the other's
        main variable, so one secret set under either name works.
        """
        rotated = [self.auth_secret_3, self.auth_secret_2, self.auth_secret_1]
        if self.version == 4:
            ordered = [self.nextauth_secret, self.auth_secret, *rotated]
        else:
            ordered = [*rotated, self.auth_secret, self.nextauth_secret]
        return list(dict.fromkeys(secret.reveal() for secret in ordered if secret))

    @property
    def session_cookie_name(self) -> str | None:
        """The cookie name the app renamed its session cookie to; ``None``: the version's own names."""
        return self.cookie_name or None

    @property
    def secret_variable(self) -> str:
        """The variable the app's library reads its secret from, to name when none is set."""
        return "NEXTAUTH_SECRET" if self.version == 4 else "AUTH_SECRET"
