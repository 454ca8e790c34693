"""Schema fuzzing that reaches the code: schemathesis against every live service and the gateway, on
SQLite and PostgreSQL, with each role's token in turn (tests/fuzzing.py), in its coverage,
fuzzing and stateful phases (links between create and read/update operations inferred from the
schemas): no 5xx, no answer outside its schema, no datetime without its offset.

Bounded: a few examples per operation and mode, the five runs side by side; about three minutes
a backend on two busy cores.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, require_postgres
from tests.reliability.conftest import live_platform, role_tokens
from tests.web.platform import ROOT, START_ORDER

EXAMPLES_PER_OPERATION = 3
PHASES = "coverage,fuzzing,stateful"
CHECKS = "not_a_server_error,response_schema_conformance,datetimes_carry_their_offset"
SCHEMATHESIS = str(Path(sys.executable).with_name("st"))


def fuzz(platform, name: str, tokens: list[str]) -> subprocess.Popen:
    """Start schemathesis against one process of the platform; its output goes to a file beside the logs."""
    env = {**platform.env, "SCHEMATHESIS_HOOKS": "tests.fuzzing", "MC_FUZZ_TOKENS": json.dumps(tokens)}
    with open(platform.folder / f"fuzz-{name}.txt", "wb") as out:
        return subprocess.Popen(
            [SCHEMATHESIS, "run", f"{platform.service_url(name)}/openapi.json", "--phases", PHASES,
             "--checks", CHECKS, "--max-examples", str(EXAMPLES_PER_OPERATION), "--workers", "1",
             "--continue-on-failure", "--no-shrink", "--seed", "16", "--request-timeout", "30",
             "-H", f"X-Service-Key: {platform.env['MC_SERVICE_SECRET']}"],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_service_answers_every_role_within_its_schema(backend, tmp_path):
    if backend == "postgres":
        require_postgres()
    with live_platform(backend, tmp_path) as platform:
        tokens = list(role_tokens(platform).values())
        runs = {name: fuzz(platform, name, tokens) for name in START_ORDER}  # side by side, as clients would
        failed = {}
        for name, run in runs.items():
            code = run.wait(timeout=900)
            output = (platform.folder / f"fuzz-{name}.txt").read_text(errors="replace")
            print(f"{backend} {name}: " + next((line.strip() for line in output.splitlines()
                                               if " generated, " in line), "no summary"))
            if code != 0:
                failed[name] = output[-6000:]
    assert not failed, "\n\n".join(f"=== {name}\n{out}" for name, out in failed.items())
