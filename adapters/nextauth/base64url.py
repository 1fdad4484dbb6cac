"""Base64url without padding (RFC 7515 section 2), decoded strictly.

jose decodes leniently (Node's Buffer and ``atob`` ignore the unused bits of the last character),
so two spellings of one token can both decrypt. Refusing every spelling but the canonical one
means any change to a token's text is a different, rejected token.
"""

import base64
import binascii

# To the standard alphabet; "+", "/" and "=" are not base64url, so they become invalid characters.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_SIXBITS = {
    char: value
    for value, char in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
# For a text whose length is 2 or 3 modulo 4, the low bits of its last character that carry no data.
_UNUSED_BITS = {2: 0b1111, 3: 0b11}


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """The bytes ``text`` spells; ``ValueError`` unless it is canonical unpadded base64url."""
    remainder = len(text) % 4
    if remainder == 1:
        raise ValueError("not base64url: one character too many")
    padded = text.encode("ascii").translate(_TO_STANDARD) + b"=" * (-remainder % 4)
    data = binascii.a2b_base64(padded, strict_mode=True)
    if remainder and _SIXBITS[text[-1]] & _UNUSED_BITS[remainder]:
        raise ValueError("not canonical base64url: the last character has unused bits set")
    return data
