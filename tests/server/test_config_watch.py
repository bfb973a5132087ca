"""`--watch`: a changed YAML file is reloaded without a request; a broken one changes nothing."""

from __future__ import annotations

from runqy.core.models import QueueConfig
from runqy.web.config_watch import ConfigWatcher
from runqy.web.extensions import db
from tests.support.polling import poll_until

YAML = """
queues:
  {name}:
    deployment: {{path: /srv, startup_cmd: run}}
"""


def _names(app) -> set[str]:
    with app.app_context():
        names = {c.name for c in db.session.query(QueueConfig).filter_by(enabled=True)}
        db.session.remove()
        return names


def test_watcher_reloads_after_a_change(make_app, tmp_path):
    conf = tmp_path / "queues"
    conf.mkdir()
    (conf / "a.yaml").write_text(YAML.format(name="first"))
    app = make_app(config_dir=conf)
    assert _names(app) == {"first"}
    watcher = ConfigWatcher(app, conf)
    watcher.start()
    try:
        (conf / "b.yml").write_text(YAML.format(name="second"))
        poll_until(lambda: _names(app) == {"first", "second"}, timeout=10, what="the reload")
        (conf / "b.yml").write_text("queues: [broken")
        (conf / "a.yaml").write_text(YAML.format(name="third"))
        # The broken file keeps everything as it was, however long we wait for the reload.
        poll_until(lambda: watcher.reloads_attempted >= 2, timeout=10,
                   what="a second reload attempt")
        assert _names(app) == {"first", "second"}
    finally:
        watcher.stop()
