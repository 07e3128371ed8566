"""`ppm-tokens force-unlock ID`: break an apply lock whose holder is known to be dead."""

from __future__ import annotations

from pathlib import Path

from reconciler.apply.lock import open_lock
from reconciler.apply.locks.record import shown
from reconciler.commands.apply import lock_context, wall_clock
from reconciler.commands.runtime import Environment, GlobalOptions, server_url
from reconciler.spec import load_spec
from reconciler.ui import UI


def run(
    lock_id: str, spec_path: Path, global_options: GlobalOptions, env: Environment, ui: UI
) -> int:
    """The lock is found from the spec (its `lock:` kind, server and namespace); only a record
    with this very ID is removed, so a lock taken since by another run is never broken."""
    spec = load_spec(spec_path, now=wall_clock())
    server = server_url(global_options, env, spec)
    lock = open_lock(spec.lock, lock_context(spec, server, env))
    info = lock.force_unlock(lock_id.strip())
    # The record may have been written by anyone who can write where the lock lives.
    ui.out(
        f"Released apply lock {shown(info.id)}, held by {shown(info.holder)} "
        f"({shown(info.operation)}) since "
        f"{info.created.isoformat(timespec='seconds')}. If that run is still alive, it starts "
        "nothing new once it sees the lock gone."
    )
    return 0
