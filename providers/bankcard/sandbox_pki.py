"""Certificates for the bank card sandbox: a UnionPay-like root -> middle -> signing chain, and a
self-issued merchant signing certificate (in production CFCA issues that one).

Pure functions of keys and time; the sandbox decides where the keys and PEM files live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

SANDBOX_ORG = "payrecon sandbox"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, SANDBOX_ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def issue_certificate(
    *,
    subject_cn: str,
    public_key: rsa.RSAPublicKey,
    issuer: x509.Certificate | None,
    issuer_key: rsa.RSAPrivateKey,
    not_before: datetime,
    not_after: datetime,
    ca: bool,
) -> x509.Certificate:
    """Issue one certificate; `issuer=None` makes it self-signed (issuer_key must match public_key)."""
    subject = _name(subject_cn)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=not ca,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


def unionpay_signing_cn(org: str, issued: datetime) -> str:
    # Shaped like UnionPay's: "041@Z<id>@<organisation>@<suffix>"; only the third part is checked.
    return f"041@Z{issued:%Y%m%d}@{org}@00040000:SIGN"


@dataclass(frozen=True, slots=True)
class PlatformChain:
    root: x509.Certificate
    middle: x509.Certificate
    signing: x509.Certificate


def build_platform_chain(
    *,
    root_key: rsa.RSAPrivateKey,
    middle_key: rsa.RSAPrivateKey,
    signing_key: rsa.RSAPrivateKey,
    cn_org: str,
    now: datetime,
    signing_days: int = 3 * 365,
) -> PlatformChain:
    start = now - timedelta(days=1)  # tolerate a client clock running a little behind
    root = issue_certificate(
        subject_cn="payrecon sandbox UnionPay ROOT",
        public_key=root_key.public_key(),
        issuer=None,
        issuer_key=root_key,
        not_before=start,
        not_after=now + timedelta(days=20 * 365),
        ca=True,
    )
    middle = issue_certificate(
        subject_cn="payrecon sandbox UnionPay MIDDLE",
        public_key=middle_key.public_key(),
        issuer=root,
        issuer_key=root_key,
        not_before=start,
        not_after=now + timedelta(days=10 * 365),
        ca=True,
    )
    signing = issue_certificate(
        subject_cn=unionpay_signing_cn(cn_org, now),
        public_key=signing_key.public_key(),
        issuer=middle,
        issuer_key=middle_key,
        not_before=start,
        not_after=now + timedelta(days=signing_days),
        ca=False,
    )
    return PlatformChain(root, middle, signing)


def build_merchant_certificate(*, key: rsa.RSAPrivateKey, mer_id: str, now: datetime) -> x509.Certificate:
    return issue_certificate(
        subject_cn=f"041@Z{now:%Y%m%d}@{mer_id}@00000001:SIGN",
        public_key=key.public_key(),
        issuer=None,
        issuer_key=key,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=3 * 365),
        ca=False,
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
