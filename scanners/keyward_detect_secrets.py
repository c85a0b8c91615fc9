"""A detect-secrets plugin for keyward keys.

    detect-secrets scan --plugin scanners/keyward_detect_secrets.py PATH

A keyward key is `<prefix>_<22 base62 key id><43 base62 secret><6 base62
checksum>`: the prefix `[a-z][a-z0-9]{0,15}`, then 71 characters of
`0-9A-Za-z`. The checksum is the CRC-32 (IEEE, zlib's) of every character
before it, written in base62 (digits, then upper case, then lower case),
big-endian, left-padded with `0` to 6 characters. Only a match whose
checksum holds is reported, so random 71-character strings after an
underscore (hashes, ids) are not.
"""

import re
import zlib
from typing import Generator

from detect_secrets.plugins.base import RegexBasedDetector

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CHECKSUM_LEN = 6


def base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum_holds(key: str) -> bool:
    body, checksum = key[:-CHECKSUM_LEN], key[-CHECKSUM_LEN:]
    return base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LEN) == checksum


class KeywardKeyDetector(RegexBasedDetector):
    """Scans for keyward API keys whose checksum holds."""

    secret_type = "keyward API key"
    denylist = [
        re.compile(r"(?<![0-9A-Za-z_])([a-z][a-z0-9]{0,15}_[0-9A-Za-z]{71})(?![0-9A-Za-z_])"),
    ]

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        yield from filter(checksum_holds, super().analyze_string(string))
