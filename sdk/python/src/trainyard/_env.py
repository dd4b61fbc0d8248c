"""What the SDK learns from its surroundings: environment variables, the
command line, the git version of the working directory, and new IDs."""

from __future__ import annotations

import datetime
import os
import secrets
import subprocess
import sys
import urllib.parse
from typing import Any, Dict, List, Optional

DEFAULT_URL = "http://127.0.0.1:8080"


def server_url(url: Optional[str] = None) -> str:
    """url, else TRAINYARD_URL, else the default, without a trailing slash."""
    return (url or os.environ.get("TRAINYARD_URL") or DEFAULT_URL).rstrip("/")


def job_run_id() -> Optional[str]:
    """The run of the trainyard job this process runs in, if any."""
    return os.environ.get("TRAINYARD_RUN_ID") or None


def new_run_id() -> str:
    """A run ID made by the SDK: 12 lowercase hex digits."""
    return secrets.token_hex(6)


def now_rfc3339() -> str:
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def command() -> List[str]:
    """The interpreter and sys.argv: the command that runs this script."""
    return [sys.executable or "python"] + list(sys.argv)


def scrub_url(u: str) -> str:
    """Removes a password or token from a remote URL
    (https://user:token@host/x.git becomes https://user@host/x.git)."""
    try:
        p = urllib.parse.urlsplit(u)
    except ValueError:
        return u
    if p.password is None:
        return u
    host = p.hostname or ""
    if p.port:
        host += ":%d" % p.port
    if p.username:
        host = p.username + "@" + host
    return urllib.parse.urlunsplit((p.scheme, host, p.path, p.query, p.fragment))


def git_info(directory: str) -> Optional[Dict[str, Any]]:
    """The git version of directory, as the API's GitInfo: commit, dirty
    (tracked files changed), branch, remote (origin, without credentials).
    None when git is missing or directory is not in a repository."""

    def git(*args: str) -> Optional[str]:
        try:
            r = subprocess.run(["git", "-C", directory] + list(args), capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    info: Dict[str, Any] = {"commit": commit, "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    if branch and branch != "HEAD":
        info["branch"] = branch
    remote = git("config", "--get", "remote.origin.url")
    if remote:
        info["remote"] = scrub_url(remote)
    return info
