"""The embedded mongod's rotated logs do not pile up in .local/ run after run."""

from __future__ import annotations

from pathlib import Path

from kauppa.devkit.embedded.servers import prune_rotated_logs


def test_only_the_newest_rotated_log_is_kept(tmp_path: Path) -> None:
    log = tmp_path / "mongod.log"
    log.write_text("current")
    stamps = ["2026-11-22T17-46-15", "2026-11-22T17-53-40", "2026-11-21T09-00-00"]
    for stamp in stamps:
        (tmp_path / f"mongod.log.{stamp}").write_text(stamp)
    (tmp_path / "tansu.log").write_text("other server")
    prune_rotated_logs(log)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mongod.log",
        "mongod.log.2026-11-22T17-53-40",
        "tansu.log",
    ]
    prune_rotated_logs(log)  # nothing more to prune
    assert len(list(tmp_path.glob("mongod.log.*"))) == 1
