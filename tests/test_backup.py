"""Backups (README, "Backups and upgrades"): a snapshot taken with `redis-cli --rdb` from a running
Redis (compose.yaml's configuration, a password), restored with deploy/redis/restore.sh into a
fresh data folder and started as compose starts Redis, carries a conversation on: the person
who was asked 「つなぎますか？」 before the backup says 「はい」 after it and is queued for a counselor.
Real redis-server, the real web app and worker, the LINE stand-in."""
from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from bot import create_app
from bot.config import Config
from bot.line_standin import StandinLine
from bot.worker import Worker
from handoff.store import QUEUE

from . import helpers
from .conftest import Poster, free_port
from .test_doctor import KEY, REDIS_PASSWORD, DeployedRedis
from .test_handoff import Person

ROOT = Path(__file__).resolve().parent.parent


class Site:
    """The web app and a worker on one Redis (what compose's web and worker services run)."""

    def __init__(self, redis_url: str, standin: StandinLine):
        self.cfg = Config(channel_secret=helpers.SECRET, access_token=helpers.ACCESS_TOKEN, api_base_url=standin.url,
                          redis_url=redis_url, secret_key=KEY, shards=4, lease_ms=1500, send_threads=4)
        app = create_app(self.cfg)
        self.r = app.extensions["mado.redis"]
        self.post = Poster(app.test_client(), standin)
        self.worker = Worker(self.cfg)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)
        self.thread.start()

    def stop(self):
        self.worker.request_stop()           # as on SIGTERM: the events in hand finished first
        self.thread.join(15)


def test_a_backup_restored_into_a_fresh_redis_carries_the_conversation_on(tmp_path):
    standin = StandinLine(helpers.ACCESS_TOKEN).start()
    first = DeployedRedis().start()
    try:
        site = Site(first.url, standin)
        person = Person(site.post, standin, site.r)
        person.send(follow=True)
        person.wait_count(1)
        person.say_and_wait(postback="choose_family")
        person.say_and_wait("人と話したい")                        # 「つなぎますか？」
        backup = tmp_path / "mado-backup.rdb"
        subprocess.run(["redis-cli", "-p", str(first.port), "--no-auth-warning", "--rdb", str(backup)],
                       env={**os.environ, "REDISCLI_AUTH": REDIS_PASSWORD}, check=True, capture_output=True)
        site.stop()
    finally:
        first.stop()

    data = tmp_path / "restored"
    data.mkdir()
    done = subprocess.run(["sh", str(ROOT / "deploy" / "redis" / "restore.sh"), str(backup), str(data)],
                          env={**os.environ, "RESTORE_PORT": str(free_port())}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert (data / "appendonlydir" / "appendonly.aof.manifest").exists()     # AOF rebuilt from the backup
    second = DeployedRedis(str(data)).start()
    try:
        site = Site(second.url, standin)
        person.post, person.r = site.post, site.r
        assert site.r.zcard(QUEUE) == 0
        person.say_and_wait("はい")
        assert site.r.zcard(QUEUE) == 1                           # the same person, queued: nothing forgotten
        site.stop()
    finally:
        second.stop()
        standin.stop()
