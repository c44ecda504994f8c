"""The config file watch: a changed file is read once it has stayed the same for a second."""

from __future__ import annotations

from pathlib import Path

from exporter.run.app import ConfigWatch


def test_a_changed_config_file_is_read_once_it_has_settled_for_a_second(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("a")
    watch = ConfigWatch(path, settle=1.0)
    first, second = (1, 1, 1, 1), (1, 2, 1, 1)
    watch.read = first
    assert not watch.due(first, 10.0)  # as read
    assert not watch.due(second, 10.0)  # changed: seen now
    assert not watch.due(second, 10.9)
    assert watch.due(second, 11.0)  # the same for a second
    assert not watch.due(first, 11.5)  # written again: waits a second more
    assert not watch.due(second, 12.0)
    assert not watch.due(second, 12.9)
    assert watch.due(second, 13.0)
    watch.reading()  # read (by the watch, a signal or POST /-/reload): nothing is due
    assert not watch.settling
    assert not watch.look(20.0)
    assert not watch.look(30.0)
