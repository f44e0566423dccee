// Curator's recipes as load on an ensemble being replaced node by node (issue 14; started
// by crates/ferrokeeper/tests/rolling.rs). Until the stop file appears, two threads take
// turns holding an InterProcessMutex and, while they hold it, increment a counter znode
// with a versioned setData; every pass also writes a heartbeat znode that a CuratorCache
// watches. One ephemeral node lives for the whole run. At the end one line of
// key=value pairs goes to stdout:
//
//   acquisitions  times a thread held the lock and incremented the counter
//   counter       the counter's final value (must equal acquisitions: no increment lost
//                 or applied twice)
//   violations    increments that found the counter changed under the lock
//   states        every connection state seen (LOST or READ_ONLY must not be among them)
//   ephemeral     "ok" when the ephemeral node still exists, owned by the first session
//   events        cache events for the heartbeat node
//   failures      operations that failed even after Curator's retries
//
//   java -cp ... RecipeLoad <connect string> <root path> <stop file>

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

public final class RecipeLoad {
    private static final AtomicLong ACQUISITIONS = new AtomicLong();
    private static final AtomicLong VIOLATIONS = new AtomicLong();
    private static final AtomicLong FAILURES = new AtomicLong();
    private static final AtomicLong EVENTS = new AtomicLong();

    public static void main(String[] args) throws Exception {
        String connect = args[0];
        String root = args[1];
        Path stop = Paths.get(args[2]);
        Set<String> states = Collections.synchronizedSet(new LinkedHashSet<>());
        CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(30000)
                .connectionTimeoutMs(15000)
                .retryPolicy(new ExponentialBackoffRetry(100, 29, 2000))
                .build();
        client.getConnectionStateListenable().addListener((c, s) -> states.add(s.name()));
        client.start();
        if (!client.blockUntilConnected(60, TimeUnit.SECONDS)) {
            throw new IllegalStateException("no connection to " + connect + " within 60 s");
        }
        String counter = root + "/counter";
        String beat = root + "/beat";
        for (String p : new String[] {counter, beat}) {
            try {
                client.create().creatingParentsIfNeeded().forPath(p, bytes(0));
            } catch (KeeperException.NodeExistsException e) {
                // From an earlier run of the same root: fine.
            }
        }
        String ephemeral = client.create().withMode(CreateMode.EPHEMERAL).forPath(root + "/eph");
        long session = client.getZookeeperClient().getZooKeeper().getSessionId();
        CuratorCache cache = CuratorCache.build(client, beat);
        cache.listenable().addListener((type, before, after) -> EVENTS.incrementAndGet());
        cache.start();

        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < 2; t++) {
            Thread w = new Thread(() -> work(client, root, counter, beat, stop), "worker-" + t);
            w.start();
            workers.add(w);
        }
        for (Thread w : workers) {
            w.join();
        }
        cache.close();
        long value = read(client, counter, null);
        Stat eph = client.checkExists().forPath(ephemeral);
        String ephState = eph == null ? "missing"
                : eph.getEphemeralOwner() == session ? "ok" : "other-owner";
        System.out.println("acquisitions=" + ACQUISITIONS.get() + " counter=" + value
                + " violations=" + VIOLATIONS.get() + " states=" + String.join(",", states)
                + " ephemeral=" + ephState + " events=" + EVENTS.get()
                + " failures=" + FAILURES.get());
        client.close();
    }

    private static void work(CuratorFramework client, String root, String counter, String beat,
            Path stop) {
        InterProcessMutex mutex = new InterProcessMutex(client, root + "/lock");
        long pass = 0;
        while (!Files.exists(stop)) {
            pass++;
            try {
                if (mutex.acquire(30, TimeUnit.SECONDS)) {
                    try {
                        increment(client, counter);
                    } finally {
                        mutex.release();
                    }
                }
                client.setData().forPath(beat, bytes(pass));
                Thread.sleep(20);
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                FAILURES.incrementAndGet();
                System.err.println(Thread.currentThread().getName() + ": " + e);
            }
        }
    }

    /** Adds one to the counter while the lock is held. */
    private static void increment(CuratorFramework client, String counter) throws Exception {
        Stat stat = new Stat();
        long value = read(client, counter, stat);
        try {
            client.setData().withVersion(stat.getVersion()).forPath(counter, bytes(value + 1));
        } catch (KeeperException.BadVersionException e) {
            // Curator retries a setData whose reply a lost connection swallowed; when the
            // first try was applied the retry finds the version moved on. Under the lock
            // only our own write can have moved it.
            if (read(client, counter, null) != value + 1) {
                VIOLATIONS.incrementAndGet();
                return;
            }
        }
        ACQUISITIONS.incrementAndGet();
    }

    private static long read(CuratorFramework client, String path, Stat stat) throws Exception {
        byte[] data = stat == null ? client.getData().forPath(path)
                : client.getData().storingStatIn(stat).forPath(path);
        return Long.parseLong(new String(data, StandardCharsets.UTF_8));
    }

    private static byte[] bytes(long v) {
        return Long.toString(v).getBytes(StandardCharsets.UTF_8);
    }
}
