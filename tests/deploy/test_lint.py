"""`ansible-lint --profile production` passes on site.yml, every role and the inventories
(configuration in .ansible-lint; no rule is skipped globally)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT = shutil.which("ansible-lint", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(LINT is None, reason="ansible-lint is not installed")
def test_ansible_lint_production_profile_passes():
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "NO_COLOR": "1",
    }
    result = subprocess.run(
        [LINT, "--profile", "production", "--offline"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "Profile 'production' was required, and it passed" in output
    assert "0 failure(s), 0 warning(s)" in output
