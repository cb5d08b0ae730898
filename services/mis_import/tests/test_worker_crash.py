"""A worker killed (SIGKILL) mid-import: another resumes the run from its last committed batch;
the counts are right and every event is in the outbox exactly once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from datagen import ctf_bytes, generate_school
from services.mis_import.events import (
    ATTENDANCE_RECORDED,
    CONTACTS_UPSERTED,
    GROUP_UPSERTED,
    STUDENT_UPSERTED,
)
from services.mis_import.tests.support import Harness, new_school
from shared.testing import postgres_database

PUPILS = 120


def worker(url: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "MIS_IMPORT_DATABASE_URL": url,
        "HAVEN_EVENTS_URL": "memory://",
        "HAVEN_LOG_LEVEL": "WARNING",
        "MIS_IMPORT_METRICS_PORT": "0",
        "MIS_IMPORT_WORKER_THREADS": "1",
        "MIS_IMPORT_BATCH_SIZE": "4",
        "MIS_IMPORT_BATCH_PAUSE_MS": "30",
        "MIS_IMPORT_LEASE_SECONDS": "2",
        "MIS_IMPORT_POLL_SECONDS": "0.1",
    }
    return subprocess.Popen([sys.executable, "-m", "services.mis_import", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(predicate, timeout: float, proc: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"the worker exited: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.02)
    raise AssertionError("timed out")


@contextlib.contextmanager
def database(backend: str, tmp_path):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/mis_import.db"
    else:
        with postgres_database("haven_mis_crash") as url:
            yield url


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql",
                                                             marks=pytest.mark.integration)])
def test_a_killed_worker_is_resumed_without_duplicates(backend, tmp_path):
    with database(backend, tmp_path) as url:
        h = Harness(url)
        school_id, school = new_school(), generate_school(seed=41, pupils=PUPILS)
        got = h.upload(school_id, ctf_bytes(school))
        run_id = h.start(school_id, got.file.id, full_extract=True)

        first = worker(url)
        try:
            cursor = wait_for(lambda: h.run(school_id, run_id).cursor >= 24, 60, first)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        killed = h.run(school_id, run_id)
        assert killed.status == "running" and 24 <= killed.cursor < PUPILS, cursor
        # What was committed is whole: each imported pupil has all three of its events.
        so_far = Counter(e.key for e in h.events(school_id))
        assert so_far[STUDENT_UPSERTED] == killed.cursor
        assert so_far[CONTACTS_UPSERTED] == so_far[ATTENDANCE_RECORDED] == killed.cursor
        assert killed.counts["created"] == killed.cursor

        second = worker(url)
        try:
            wait_for(lambda: h.run(school_id, run_id).status == "succeeded", 90, second)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(15)
        run = h.run(school_id, run_id)
        assert (run.cursor, run.total, run.rejected) == (PUPILS, PUPILS, 0)
        assert run.counts["created"] == PUPILS and "updated" not in run.counts
        events = h.events(school_id)
        counts = Counter(e.key for e in events)
        assert counts[STUDENT_UPSERTED] == counts[CONTACTS_UPSERTED] == PUPILS
        assert counts[ATTENDANCE_RECORDED] == PUPILS
        assert counts[GROUP_UPSERTED] == 5
        upns = sorted(p.upn for p in school.pupils)
        assert sorted(e.message.mis_id for e in events if e.key == STUDENT_UPSERTED) == upns
        assert sorted(e.message.student_mis_id for e in events
                      if e.key == ATTENDANCE_RECORDED) == upns
        h.dispose()
