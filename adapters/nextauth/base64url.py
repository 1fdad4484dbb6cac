"""Base64url without padding (RFC 7515 section 2), decoded strictly.

jose decodes leniently (Node's Buffer and ``atob`` ignore the unused bits of the last character),
so two spellings of one token can both decrypt. Refusing every spelling but the canonical one
means any change to a token's text is a different, rejected token.
"""

import base64
import binascii

# To the standard alphabet; "+", "/" and "=" are not base64url, so they become invalid characters.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# For a text whose length is 2 or 3 modulo 4, the last characters whose unused low bits are all
# clear (the only canonical ones), and the padding that makes the text whole base64 quanta.
_CANONICAL_LAST: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset(),
    frozenset(char for value, char in enumerate(_ALPHABET) if not value & 0b1111),
    frozenset(char for value, char in enumerate(_ALPHABET) if not value & 0b11),
)
_PADDING = (b"", b"", b"==", b"=")
_a2b_base64 = binascii.a2b_base64


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """The bytes ``text`` spells; ``ValueError`` unless it is canonical unpadded base64url."""
    remainder = len(text) % 4
    if remainder:
        if remainder == 1:
            raise ValueError("not base64url: one character too many")
        if text[-1] not in _CANONICAL_LAST[remainder]:
            raise ValueError("not canonical base64url: the last character has unused bits set")
        return _a2b_base64(
            text.encode("ascii").translate(_TO_STANDARD) + _PADDING[remainder], strict_mode=True
        )
    return _a2b_base64(text.encode("ascii").translate(_TO_STANDARD), strict_mode=True)
