#!/usr/bin/env bash
# The whole test suite on a fresh machine of this kind (Debian, Python 3.11, root): installs what it
# needs (redis-server, chromium, openssl, nginx and a Japanese font from Debian; mado and its test
# tools from PyPI), then runs pytest. Browser tests drive Debian's chromium (/usr/bin/chromium) through Playwright:
# Playwright's own browser download is never used.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)      # a certificate for the TLS stand-in
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing+=(nginx)   # deploy/nginx/mado.conf (tests/test_proxy.py)
fc-list 2>/dev/null | grep -qi ipagothic || missing+=(fonts-ipafont-gothic)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
# With no arguments: the whole suite in two processes (pytest-xdist), each file kept to one of them
# (its module fixtures, such as a web process, are started once); every process starts its own
# redis-server, LINE stand-in and browser on free ports. Much of a test's time is waiting on
# another process, so two shorten the run by about a third even on two cores. (-p no:benchmark: a machine's own
# pytest-benchmark plugin refuses to load beside xdist; mado's benchmarks are scripts.)
PARALLEL=(-p no:benchmark -n 2 --dist loadfile)
if [ $# -gt 0 ]; then PARALLEL=(); fi
python3 -m pytest -q -p no:cacheprovider "${PARALLEL[@]}" "$@"
if [ $# -eq 0 ]; then
  # The integration tests again, on a local 3-master Redis Cluster: the key layout holds there
  # (no CROSSSLOT anywhere) with redis-py's cluster client, found from a plain REDIS_URL: the files
  # whose keys span streams, leases, handoffs, notes, alerts, teams and forget-me. (Not again: how
  # worker processes take signals and CPU priority, nor when a long wait's notice comes, which no
  # Redis layout changes (their keys are the lifecycle's, run here by the others), nor the console's
  # security and the smoke test, whose keys are one slot each.)
  # Three processes here (no browser and no timing-sensitive test in this pass: they wait on
  # Redis and on worker processes, not on the CPU); the chaos and concurrency tests (kills,
  # fifty claims, shard counts, poison events) run in the main pass, their keys run here by the
  # lifecycle tests.
  MADO_TEST_REDIS=cluster python3 -m pytest -q -p no:cacheprovider -p no:benchmark -n 3 --dist loadfile \
    -k "not sigterm and not yields_the_cpu and not stop_sent and not far_back_hears and not long_wait_gets and not fifty_simultaneous and not disagree_on_the_shard and not killed_mid_event and not poison_event" \
    tests/test_webhook.py tests/test_worker.py tests/test_handoff.py tests/test_privacy.py \
    tests/test_counselor_tools.py tests/test_risk_alerts.py tests/test_teams.py
fi
