"""The container serves kazoo (compat-tests/docker/run): a session, a create, reads, a
watch that fires, an ephemeral that leaves with its session, a multi, and deletes.
Prints one line per step and exits non-zero on the first failure.
Usage: kazoo_check.py HOST:PORT
"""

import sys
import threading

from kazoo.client import KazooClient

HOSTS = sys.argv[1]
ROOT = "/docker-kazoo"
WAIT = 20


def step(what):
    print("kazoo: " + what, flush=True)


def main():
    a = KazooClient(hosts=HOSTS, timeout=10)
    a.start(timeout=WAIT)
    step("connected, session 0x%x" % a.client_id[0])
    if a.exists(ROOT):
        a.delete(ROOT, recursive=True)

    a.create(ROOT, b"hello")
    data, stat = a.get(ROOT)
    assert data == b"hello" and stat.version == 0, (data, stat)
    step("created and read " + ROOT)

    fired = threading.Event()
    a.get(ROOT, watch=lambda event: fired.set())
    a.set(ROOT, b"world")
    assert fired.wait(WAIT), "the data watch did not fire"
    assert a.get(ROOT)[0] == b"world"
    step("set fired the data watch")

    b = KazooClient(hosts=HOSTS, timeout=10)
    b.start(timeout=WAIT)
    b.create(ROOT + "/eph", b"", ephemeral=True)
    seq = b.create(ROOT + "/seq-", b"", sequence=True)
    assert sorted(a.get_children(ROOT)) == sorted(["eph", seq.rsplit("/", 1)[1]])
    # kazoo's stop() sends closeSession without waiting for its reply: wait for the
    # deletion event rather than reading right away.
    gone = threading.Event()
    a.exists(ROOT + "/eph", watch=lambda event: gone.set())
    b.stop()
    b.close()
    assert gone.wait(WAIT), "the ephemeral outlived its session"
    assert a.exists(ROOT + "/eph") is None
    step("an ephemeral left with its session")

    tx = a.transaction()
    tx.create(ROOT + "/m1", b"1")
    tx.check(ROOT, version=1)
    tx.set_data(ROOT, b"multi")
    results = tx.commit()
    assert results[0] == ROOT + "/m1" and results[1] is True, results
    assert a.get(ROOT)[0] == b"multi"
    step("a multi committed")

    a.delete(ROOT, recursive=True)
    assert a.exists(ROOT) is None
    step("deleted " + ROOT)
    a.stop()
    a.close()


if __name__ == "__main__":
    main()
