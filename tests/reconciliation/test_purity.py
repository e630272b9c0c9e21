"""The engine is pure: importing it pulls in no database, web framework, HTTP client or scheduler.

import-linter checks direct and indirect imports inside the repo; this checks what actually gets loaded,
third-party packages included, in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys

PURE = [
    "reconciliation.engine",
    "reconciliation.rules",
    "reconciliation.names",
    "reconciliation.index",
    "reconciliation.application",
    "reconciliation.refunds",
    "reconciliation.config",
    "reconciliation.generator",
    "reconciliation.generator_flows",
]
FORBIDDEN = (
    "payments.persistence",
    "payments.services",
    "payments.api",
    "payments.security",
    "providers",
    "sqlalchemy",
    "litestar",
    "httpx",
    "apscheduler",
    "asyncpg",
    "aiosqlite",
    "logging",
)


def test_engine_modules_load_nothing_impure() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for m in {PURE!r}: importlib.import_module(m)\n"
        "from reconciliation.names import compare_names\n"  # loads opencc and pypinyin, which are lazy
        "compare_names('ZHANG SAN', '張三')\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout  # noqa: S603 - our own code string
    )
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == []
