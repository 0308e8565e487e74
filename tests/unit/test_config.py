import subprocess
import sys

import pytest

from bot.config import load_settings
from bot.errors import ConfigError


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_URL": "http://localhost:6379"}, "REDIS_URL is not a redis:// URL"),
        ({"DEFAULT_TIMEZONE": "Mars/Olympus"}, "DEFAULT_TIMEZONE is not an IANA time zone"),
        ({"ADMIN_USER_IDS": "12,abc"}, "ADMIN_USER_IDS must be comma-separated"),
        ({"WEBHOOK_PORT": "99999"}, "WEBHOOK_PORT is invalid"),
    ],
)
def test_bad_setting_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None)
    assert str(err.value.detail).startswith(message)


def test_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_USER_IDS", "1, 2")
    monkeypatch.setenv("FETCH_ALLOW_HOSTS", "Example.org, 10.0.0.5")
    s = load_settings(_env_file=None)
    assert s.admin_ids == {1, 2}
    assert s.allow_hosts == {"example.org", "10.0.0.5"}


def test_cli_bad_setting_exits_2_without_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "summarize", "-"],
        input="x",
        capture_output=True,
        text=True,
        env={"REDIS_URL": "http://nope", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: REDIS_URL is not a redis:// URL"


@pytest.mark.parametrize(
    "url", ["redis://h:6379/0", "rediss://h", "unix:///tmp/r.sock", "redis+cluster://h:7000"]
)
def test_redis_url_schemes_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    assert load_settings(_env_file=None).redis_url == url
