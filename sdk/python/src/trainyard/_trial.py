"""Sweep trials: what a trial learns from its environment, and its
checkpoints on disk.

A sweep's trial is a job whose environment names its sweep and trial
(TRAINYARD_SWEEP_ID, TRAINYARD_TRIAL), the metric its searcher reads
(TRAINYARD_SWEEP_METRIC), the step the current segment runs to
(TRAINYARD_TRIAL_UNTIL, 0: to its end), its configuration
(TRAINYARD_TRIAL_CONFIG, JSON), the directory to save checkpoints into
(TRAINYARD_CHECKPOINT_DIR) and the one to resume from
(TRAINYARD_RESTORE_DIR, TRAINYARD_RESTORE_STEP).

Checkpoints are directories on disk (on a cluster, a shared file system),
never sent through the server: checkpoint_dir(step) is ROOT/step-STEP.
A directory counts as complete once the code has moved on from it (its
next log, checkpoint_dir, should_stop or finish): the SDK then writes the
marker file .trainyard-complete into it and removes older complete ones
beyond the newest KEEP (TRAINYARD_KEEP_CHECKPOINTS, default 2). A
checkpoint cut short by a kill has no marker and is never restored from.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import Any, Dict, List, Optional, Tuple

MARKER = ".trainyard-complete"
_STEP_DIR = re.compile(r"^step-(\d+)$")


class Trial:
    """A sweep trial's settings, from the environment."""

    def __init__(self, env: Dict[str, str]):
        self.sweep_id = env.get("TRAINYARD_SWEEP_ID", "")
        self.number = _int(env.get("TRAINYARD_TRIAL"))
        self.segment = _int(env.get("TRAINYARD_TRIAL_SEGMENT"))
        self.metric = env.get("TRAINYARD_SWEEP_METRIC", "")
        self.until = _int(env.get("TRAINYARD_TRIAL_UNTIL"))
        self.checkpoint_root = env.get("TRAINYARD_CHECKPOINT_DIR") or None
        self.restore_root = env.get("TRAINYARD_RESTORE_DIR") or None
        self.restore_step = _int(env.get("TRAINYARD_RESTORE_STEP")) if env.get("TRAINYARD_RESTORE_STEP") else None
        self.config: Dict[str, Any] = {}
        raw = env.get("TRAINYARD_TRIAL_CONFIG")
        if raw:
            try:
                cfg = json.loads(raw)
                if isinstance(cfg, dict):
                    self.config = cfg
            except ValueError:
                pass

    @classmethod
    def from_env(cls, env: Optional[Dict[str, str]] = None) -> Optional["Trial"]:
        env = dict(os.environ) if env is None else env
        if not env.get("TRAINYARD_SWEEP_ID") or not env.get("TRAINYARD_TRIAL"):
            return None
        return cls(env)


def _int(s: Optional[str]) -> int:
    try:
        return int(s or 0)
    except ValueError:
        return 0


def step_dirs(root: Optional[str]) -> List[Tuple[int, str, bool]]:
    """The step directories under root: (step, path, complete), by step."""
    if not root or not os.path.isdir(root):
        return []
    out = []
    for name in os.listdir(root):
        m = _STEP_DIR.match(name)
        path = os.path.join(root, name)
        if m and os.path.isdir(path):
            out.append((int(m.group(1)), path, os.path.exists(os.path.join(path, MARKER))))
    out.sort()
    return out


def pick_restore(own_root: Optional[str], restore_root: Optional[str], restore_step: Optional[int]) -> Optional[str]:
    """The checkpoint to resume from: the newest complete one of the trial's
    own (its own progress, after a pause, a restart or a retry), else the
    one it was started from (PBT's exploit: restore_root at restore_step,
    or the newest complete one at or before it, or the newest), else None."""
    own = [p for _, p, ok in step_dirs(own_root) if ok]
    if own:
        return own[-1]
    if not restore_root or (own_root and os.path.abspath(restore_root) == os.path.abspath(own_root)):
        return None
    src = [(s, p) for s, p, ok in step_dirs(restore_root) if ok]
    if not src:
        return None
    if restore_step is not None:
        before = [p for s, p in src if s <= restore_step]
        if before:
            return before[-1]
    return src[-1][1]


def mark_complete(path: str) -> None:
    """Marks a checkpoint directory complete (the code moved on from it)."""
    if os.path.isdir(path):
        with open(os.path.join(path, MARKER), "w") as f:
            f.write("complete\n")


def prune(root: str, keep: int, spare: Optional[str] = None) -> None:
    """Removes complete checkpoints of root beyond the newest keep, and
    incomplete ones older than the newest complete one (left by a kill);
    spare (the directory being written) is never removed."""
    dirs = step_dirs(root)
    complete = [p for _, p, ok in dirs if ok]
    drop = complete[:-keep] if keep > 0 else []
    newest = max((s for s, _, ok in dirs if ok), default=None)
    if newest is not None:
        drop += [p for s, p, ok in dirs if not ok and s < newest]
    for p in drop:
        if spare is None or os.path.abspath(p) != os.path.abspath(spare):
            shutil.rmtree(p, ignore_errors=True)


def step_of(path: Optional[str]) -> int:
    """The step a checkpoint directory was saved at (0 for None)."""
    if not path:
        return 0
    m = _STEP_DIR.match(os.path.basename(os.path.normpath(path)))
    return int(m.group(1)) if m else 0
