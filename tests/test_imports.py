"""Importing the package builds nothing: no engine, no Slack client, no scheduler."""

import os
import subprocess
import sys


def test_importing_every_module_has_no_side_effects(tmp_path):
    database = tmp_path / "should-not-exist.db"
    code = (
        "import pkgutil, incidentbot\n"
        "for m in pkgutil.walk_packages(incidentbot.__path__, 'incidentbot.'):\n"
        "    if m.name != 'incidentbot.__main__':\n"
        "        __import__(m.name)\n"
        "import threading; print(threading.active_count())\n"
    )
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "SLACK_API_URL": "http://127.0.0.1:9/api/"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "1", "a module started a thread at import"
    assert not database.exists(), "a module opened the database at import"
