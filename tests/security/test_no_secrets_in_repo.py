"""Nothing secret is committed: no private keys outside the clearly fake test fixtures, no webhook
secrets or API keys shaped like the service's own."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# A key, not the header named in code: the header followed by a body of base64 lines.
PRIVATE_KEY = re.compile(rb"-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----\s*(?:[A-Za-z0-9+/=]{40,}\s*){3,}")
# A real-looking secret: the prefix and then at least 20 key characters (documentation uses "prk_…").
API_KEY = re.compile(rb"\bprk_[A-Za-z0-9_-]{20,}")
WEBHOOK_SECRET = re.compile(rb"\bwhsec_[A-Za-z0-9+/=]{20,}")
FIXTURES = "tests/fixtures/"
# Public values that look like secrets: the Standard Webhooks specification's test-vector secret, and a
# key that was never issued (tests send it to be refused).
PUBLIC = (b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", b"prk_unknownkeyunknownkeyunknownkey00000000")


def _tracked() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"],  # noqa: S607  (git from PATH, fixed arguments)
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [p for p in out.decode().split("\0") if p]


@pytest.mark.parametrize(
    ("name", "pattern"), [("private key", PRIVATE_KEY), ("API key", API_KEY), ("webhook secret", WEBHOOK_SECRET)]
)
def test_no_tracked_file_holds_a_secret(name: str, pattern: re.Pattern[bytes]):
    found = []
    for path in _tracked():
        if path.startswith(FIXTURES) or not (REPO / path).is_file():
            continue
        content = (REPO / path).read_bytes()
        for value in PUBLIC:
            content = content.replace(value, b"")
        if pattern.search(content):
            found.append(path)

    assert found == [], f"{name} in {found}"
