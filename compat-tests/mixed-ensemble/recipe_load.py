"""kazoo's recipes as load on an ensemble being replaced node by node (issue 14; started by
crates/ferrokeeper/tests/rolling.rs), the Python twin of RecipeLoad.java.

Until the stop file appears, two threads take turns holding a kazoo Lock and, while they
hold it, increment a counter znode with a versioned set; every pass also writes a heartbeat
znode that a DataWatch follows. One ephemeral node lives for the whole run. At the end one
line of key=value pairs goes to stdout (the same keys as RecipeLoad.java's).

    python recipe_load.py <connect string> <root path> <stop file>
"""

import os
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError
from kazoo.retry import KazooRetry

lock = threading.Lock()
totals = {"acquisitions": 0, "violations": 0, "failures": 0, "events": 0}
states = []


def count(key):
    with lock:
        totals[key] += 1


def on_state(state):
    with lock:
        if state not in states:
            states.append(state)


def read(client, path):
    data, stat = client.retry(client.get, path)
    return int(data.decode()), stat


def increment(client, counter):
    value, stat = read(client, counter)
    try:
        client.retry(client.set, counter, str(value + 1).encode(), version=stat.version)
    except BadVersionError:
        # A retried set whose first try was applied finds the version moved on; under the
        # lock only our own write can have moved it.
        if read(client, counter)[0] != value + 1:
            count("violations")
            return
    count("acquisitions")


def work(client, root, counter, beat, stop):
    recipe = client.Lock(root + "/lock")
    passes = 0
    while not os.path.exists(stop):
        passes += 1
        try:
            if recipe.acquire(timeout=30):
                try:
                    increment(client, counter)
                finally:
                    recipe.release()
            client.retry(client.set, beat, str(passes).encode())
            time.sleep(0.02)
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            count("failures")
            print(f"{threading.current_thread().name}: {e!r}", file=sys.stderr)


def main():
    connect, root, stop = sys.argv[1:4]
    retry = KazooRetry(max_tries=-1, delay=0.1, max_delay=2, deadline=120)
    client = KazooClient(
        hosts=connect, timeout=30, connection_retry=KazooRetry(max_tries=-1), command_retry=retry
    )
    client.add_listener(on_state)
    client.start(timeout=60)
    on_state(client.state)
    counter, beat = root + "/counter", root + "/beat"
    for path in (counter, beat):
        try:
            client.retry(client.create, path, b"0", makepath=True)
        except NodeExistsError:
            pass
    ephemeral = client.retry(client.create, root + "/eph", ephemeral=True)
    session = client.client_id[0]

    @client.DataWatch(beat)
    def watched(data, stat):
        count("events")

    workers = [
        threading.Thread(target=work, args=(client, root, counter, beat, stop), name=f"worker-{t}")
        for t in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    value, _ = read(client, counter)
    stat = client.retry(client.exists, ephemeral)
    if stat is None:
        eph = "missing"
    elif stat.ephemeralOwner == session:
        eph = "ok"
    else:
        eph = "other-owner"
    print(
        f"acquisitions={totals['acquisitions']} counter={value} "
        f"violations={totals['violations']} states={','.join(states)} ephemeral={eph} "
        f"events={totals['events']} failures={totals['failures']}",
        flush=True,
    )
    client.stop()
    client.close()


if __name__ == "__main__":
    main()
