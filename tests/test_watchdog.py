"""The suite's own watchdog (tests/conftest.py): a test stuck where pytest-timeout cannot reach
(here a fixture's teardown that blocks the alarm signal) ends its worker with every thread's
stack printed, and the run goes on and reports it, instead of holding CI until its limit."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STUCK = textwrap.dedent('''
    import signal, threading, pytest

    @pytest.fixture
    def stuck():
        yield
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])     # pytest-timeout's signal
        threading.Event().wait()                                       # and no end

    def test_stuck_in_teardown(stuck):
        pass

    def test_after_it():
        pass
''')


def test_a_test_stuck_past_the_watchdog_is_reported_with_its_stacks_and_the_run_ends(tmp_path):
    (tmp_path / "test_stuck.py").write_text(STUCK)
    env = dict(os.environ, MADO_TEST_WATCHDOG="3", PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:benchmark",
                          "-p", "tests.conftest", "-n", "2", "--rootdir", str(tmp_path), str(tmp_path)],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=110)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "crashed while running" in out and "test_stuck_in_teardown" in out, out
    assert "watchdog" in out and "in stuck" in out, out           # the stuck frame, named
    assert "1 failed, 2 passed" in out, out       # (the stuck test's call passed; its teardown never ended)
