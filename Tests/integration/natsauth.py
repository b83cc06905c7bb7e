"""NATS decentralized authentication for the bus tests, made here because Debian has no `nsc`: nkeys (ed25519
keys in NATS's text encoding), JWT v2 claims for an operator, an account and a user, and the `.creds` file a user
connects with.

An nkey's text is base32 (no padding) of a prefix byte naming its kind, the 32-byte key and a CRC-16 (XMODEM,
little-endian) of both; a seed (the private half) carries two prefix bytes, the seed marker and the kind. A JWT is
`base64url(header).base64url(claims).base64url(ed25519 signature of the first two by the issuer's key)`.
"""
import base64
import hashlib
import json
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SEED = 18 << 3
OPERATOR = 14 << 3
ACCOUNT = 0
USER = 20 << 3


def crc16(data):
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def encode(raw):
    raw = bytes(raw)
    return base64.b32encode(raw + crc16(raw).to_bytes(2, "little")).decode().rstrip("=")


class NKey:
    """An ed25519 key pair of one kind (OPERATOR, ACCOUNT or USER)."""

    def __init__(self, kind):
        self.kind = kind
        self.key = Ed25519PrivateKey.generate()

    @property
    def public(self):
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return encode(bytes([self.kind]) + raw)

    @property
    def seed(self):
        raw = self.key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
        return encode(bytes([SEED | (self.kind >> 5), (self.kind & 31) << 3]) + raw)

    def sign(self, data):
        return self.key.sign(data)


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(issuer, subject, name, nats):
    """A JWT v2 for `subject` (an NKey) signed by `issuer` (an NKey), with the `nats` claims given."""
    claims = {"jti": "", "iat": int(time.time()), "iss": issuer.public, "name": name, "sub": subject.public,
              "nats": dict(nats, version=2)}
    claims["jti"] = base64.b32encode(hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).digest()).decode().rstrip("=")
    head = b64url(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url(issuer.sign(f'{head}.{body}'.encode()))}"


def operator_jwt(operator, system_account=None):
    nats = {"type": "operator"}
    if system_account is not None:
        nats["system_account"] = system_account.public
    return jwt(operator, operator, "periscope-test-operator", nats)


def account_jwt(operator, account, name, jetstream=True):
    limits = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": True, "conn": -1,
              "leaf": -1}
    if jetstream:
        limits.update({"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1})
    return jwt(operator, account, name, {"type": "account", "limits": limits,
                                         "default_permissions": {"pub": {}, "sub": {}}})


def user_jwt(account, user, name, publish, subscribe):
    return jwt(account, user, name, {"type": "user", "pub": {"allow": publish}, "sub": {"allow": subscribe},
                                     "subs": -1, "data": -1, "payload": -1})


def creds(user_token, user):
    """The text of a `.creds` file, as `nsc` writes it: the user JWT, then the user's seed."""
    return (f"-----BEGIN NATS USER JWT-----\n{user_token}\n------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n"
            "NKEYs are sensitive and should be treated as secrets.\n\n"
            f"-----BEGIN USER NKEY SEED-----\n{user.seed}\n------END USER NKEY SEED------\n\n"
            "*************************************************************\n")
