"""kazoo 2.10 recipes, run through `ferrokeeper shadow` (compat-tests/shadow/run).

Each recipe must work for its clients (they are answered by the primary); the proxy meanwhile
compares every answer with the candidate's. Prints one PASS/FAIL line per recipe.
Usage: recipes.py HOST:PORT [inject]
"""

import sys
import threading
import time

from kazoo.client import KazooClient

HOSTS = sys.argv[1]
ROOT = "/shadow"
WAIT = 20


def client():
    c = KazooClient(hosts=HOSTS, timeout=10)
    c.start(timeout=WAIT)
    return c


def until(what, cond):
    """Waits (bounded) for cond(); the recipes' own waits are event-driven, this one only
    watches another client's thread reach its blocking point."""
    deadline = time.monotonic() + WAIT
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def lock(a, b):
    la, lb = a.Lock(ROOT + "/lock", "a"), b.Lock(ROOT + "/lock", "b")
    assert la.acquire(timeout=WAIT)
    got = threading.Event()
    t = threading.Thread(target=lambda: lb.acquire(timeout=WAIT) and got.set())
    t.start()
    until("b to queue for the lock", lambda: len(la.contenders()) == 2)
    assert not got.is_set()
    la.release()
    assert got.wait(WAIT), "b never got the lock"
    t.join(WAIT)
    assert lb.contenders() == ["b"]
    lb.release()


def election(a, b):
    ea, eb = a.Election(ROOT + "/election", "a"), b.Election(ROOT + "/election", "b")
    leader_a = threading.Event()
    release_a = threading.Event()
    elected_b = threading.Event()

    def lead_a():
        leader_a.set()
        release_a.wait(WAIT)

    ta = threading.Thread(target=lambda: ea.run(lead_a))
    ta.start()
    assert leader_a.wait(WAIT)
    tb = threading.Thread(target=lambda: eb.run(elected_b.set))
    tb.start()
    until("b to stand", lambda: len(ea.contenders()) == 2)
    assert ea.contenders() == ["a", "b"]
    release_a.set()
    ta.join(WAIT)
    assert elected_b.wait(WAIT)
    tb.join(WAIT)


def queue(a, b):
    qa, qb = a.Queue(ROOT + "/queue"), b.Queue(ROOT + "/queue")
    for item in (b"one", b"two", b"three"):
        qa.put(item)
    qa.put(b"urgent", priority=10)  # lower numbers first (the default is 100)
    assert len(qb) == 4
    got = [qb.get() for _ in range(4)]
    assert got == [b"urgent", b"one", b"two", b"three"], got
    assert qb.get() is None
    lq_a, lq_b = a.LockingQueue(ROOT + "/lqueue"), b.LockingQueue(ROOT + "/lqueue")
    lq_a.put(b"job-1")
    lq_a.put_all([b"job-2", b"job-3"])
    assert lq_b.get(timeout=WAIT) == b"job-1"
    assert lq_b.consume()
    assert lq_b.get(timeout=WAIT) == b"job-2"
    assert lq_b.consume()


def counter(a, b):
    ca, cb = a.Counter(ROOT + "/counter"), b.Counter(ROOT + "/counter")
    for _ in range(5):
        ca += 1
    cb += 10
    cb -= 3
    assert ca.value == 12 and cb.value == 12
    fa = a.Counter(ROOT + "/fcounter", default=0.5)
    fa += 1.25
    assert fa.value == 1.75


def barrier(a, b):
    ba, bb = a.Barrier(ROOT + "/barrier"), b.Barrier(ROOT + "/barrier")
    ba.create()
    passed = threading.Event()
    t = threading.Thread(target=lambda: bb.wait(WAIT) and passed.set())
    t.start()
    until("the barrier node", lambda: b.exists(ROOT + "/barrier") is not None)
    ba.remove()
    assert passed.wait(WAIT)
    t.join(WAIT)
    # The double barrier, entered one client after the other: two clients creating the same
    # node at the same instant is a race each server may settle differently (docs/shadow.md).
    a.ensure_path(ROOT + "/dbarrier")
    da = a.DoubleBarrier(ROOT + "/dbarrier", 2)
    db = b.DoubleBarrier(ROOT + "/dbarrier", 2)
    entered = threading.Event()
    t = threading.Thread(target=lambda: (db.enter(), entered.set()))
    t.start()
    until("b at the barrier", lambda: len(a.get_children(ROOT + "/dbarrier")) == 1)
    da.enter()
    assert entered.wait(WAIT)
    t.join(WAIT)
    # Not leave(): both clients delete the same `ready` node at once, a race again.


def watchers(a, b):
    path = ROOT + "/watched"
    a.ensure_path(path)
    seen_data, seen_children = [], []
    data_changed, children_changed = threading.Event(), threading.Event()

    # Each watcher stops (returns False) once it has seen the last change, so the deletes at
    # the end fire no re-registering read that would race them (see below).
    @a.DataWatch(path)
    def on_data(data, stat):
        seen_data.append(data)
        if data == b"v2":
            data_changed.set()
            return False
        return True

    @a.ChildrenWatch(path)
    def on_children(children):
        seen_children.append(sorted(children))
        if sorted(children) == ["c1", "c2"]:
            children_changed.set()
            return False
        return True

    # Each change once the watcher has seen the previous one: a re-registering read that races
    # another client's write may be ordered differently by each server (docs/shadow.md).
    until("the first data", lambda: seen_data == [b""])
    b.set(path, b"v1")
    until("v1", lambda: seen_data[-1] == b"v1")
    b.set(path, b"v2")
    assert data_changed.wait(WAIT), seen_data
    until("no children", lambda: seen_children == [[]])
    b.create(path + "/c1")
    until("c1", lambda: seen_children[-1] == ["c1"])
    b.create(path + "/c2")
    assert children_changed.wait(WAIT), seen_children
    # The clean-up comes from `a`, the watchers' own connection: a recursive delete is several
    # requests, and a read from another connection in between may see a different state on
    # each server (it once did: getChildren answered NONODE by one and OK by the other).
    a.delete(path, recursive=True)


def party(a, b):
    pa, pb = a.Party(ROOT + "/party", "a"), b.Party(ROOT + "/party", "b")
    pa.join()
    pb.join()
    assert sorted(pa) == ["a", "b"] and len(pb) == 2
    pb.leave()
    assert list(pa) == ["a"]
    sa, sb = a.ShallowParty(ROOT + "/sparty", "a"), b.ShallowParty(ROOT + "/sparty", "b")
    sa.join()
    sb.join()
    assert sorted(sb) == ["a", "b"]
    sa.leave()
    sb.leave()
    pa.leave()


def transaction(a, b):
    t = a.transaction()
    t.create(ROOT + "/txn", b"x")
    t.create(ROOT + "/txn/seq-", b"", sequence=True)
    results = t.commit()
    assert results[0] == ROOT + "/txn", results
    assert b.get_children(ROOT + "/txn") == [results[1].rsplit("/", 1)[1]]
    bad = b.transaction()
    bad.set_data(ROOT + "/txn", b"y", version=7)
    assert isinstance(bad.commit()[0], Exception)


RECIPES = [lock, election, queue, counter, barrier, watchers, party, transaction]


def main():
    if len(sys.argv) > 2 and sys.argv[2] == "inject":
        c = client()
        print("exists /shadow-injected:", c.exists("/shadow-injected"))
        c.stop()
        c.close()
        return 0
    a, b = client(), client()
    a.ensure_path(ROOT)
    failed = 0
    for recipe in RECIPES:
        try:
            recipe(a, b)
            print("PASS recipe", recipe.__name__, flush=True)
        except Exception as e:  # noqa: BLE001 - report and go on
            failed += 1
            print("FAIL recipe", recipe.__name__ + ":", repr(e), flush=True)
    a.delete(ROOT, recursive=True)
    for c in (a, b):
        c.stop()
        c.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
