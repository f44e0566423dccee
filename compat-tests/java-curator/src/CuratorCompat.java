// Compatibility checks for a ZooKeeper server, driven by the Apache ZooKeeper Java client and
// Apache Curator recipes (Debian's jars).  Usage: java CuratorCompat HOST:PORT [check-name-substring...]
//
// Each check runs in its own thread with a time limit, prints "PASS name (ms)" or
// "FAIL name (ms): reason", and the program exits 1 if any check failed.  Every wait is bounded.
// The server must run with extendedTypesEnabled=true (TTL nodes) and a short container check
// interval (znode.container.checkIntervalMs=1000) for the TTL and container checks.

import java.io.Closeable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.api.transaction.OperationType;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.barriers.DistributedBarrier;
import org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.queue.DistributedQueue;
import org.apache.curator.framework.recipes.queue.QueueBuilder;
import org.apache.curator.framework.recipes.queue.QueueConsumer;
import org.apache.curator.framework.recipes.queue.QueueSerializer;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.SharedCountListener;
import org.apache.curator.framework.recipes.shared.SharedCountReader;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;

public final class CuratorCompat {
    private static final long CHECK_TIMEOUT_MS = 60_000;
    private static final long WAIT_MS = 15_000;

    private static String connect;
    private static String base;
    private static final List<String> failures = new ArrayList<>();
    private static int passed;
    private static final ExecutorService pool = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "compat-check");
        t.setDaemon(true);
        return t;
    });

    /** A check body; throw (or fail a require) to fail the check. */
    interface Body {
        void run(Scope s) throws Exception;
    }

    /** Closes what a check opened, last first, whatever happens in the check. */
    static final class Scope implements AutoCloseable {
        private final Deque<Closeable> open = new ArrayDeque<>();

        <T extends Closeable> T add(T c) {
            open.push(c);
            return c;
        }

        CuratorFramework curator() throws Exception {
            CuratorFramework c = CuratorFrameworkFactory.builder()
                    .connectString(connect)
                    .sessionTimeoutMs(20_000)
                    .connectionTimeoutMs(10_000)
                    .retryPolicy(new ExponentialBackoffRetry(100, 5))
                    .build();
            add(c);
            c.start();
            require(c.blockUntilConnected((int) WAIT_MS, TimeUnit.MILLISECONDS),
                    "Curator client connected within " + WAIT_MS + " ms");
            return c;
        }

        ZooKeeper zk() throws Exception {
            return zk(null, 0, null);
        }

        ZooKeeper zk(BlockingQueue<WatchedEvent> events, long sessionId, byte[] password) throws Exception {
            CountDownLatch connected = new CountDownLatch(1);
            Watcher w = ev -> {
                if (ev.getState() == Watcher.Event.KeeperState.SyncConnected && ev.getType() == Watcher.Event.EventType.None) {
                    connected.countDown();
                }
                if (events != null) {
                    events.add(ev);
                }
            };
            ZooKeeper zk = password == null
                    ? new ZooKeeper(connect, 20_000, w)
                    : new ZooKeeper(connect, 20_000, w, sessionId, password);
            add(() -> {
                try {
                    zk.close(5_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            if (password == null) {
                require(connected.await(WAIT_MS, TimeUnit.MILLISECONDS), "ZooKeeper client connected within " + WAIT_MS + " ms");
            }
            return zk;
        }

        @Override
        public void close() {
            while (!open.isEmpty()) {
                try {
                    open.pop().close();
                } catch (Exception e) {
                    System.out.println("    (close: " + e + ")");
                }
            }
        }
    }

    static final class CheckFailed extends RuntimeException {
        private static final long serialVersionUID = 1L;

        CheckFailed(String msg) {
            super(msg);
        }
    }

    static void require(boolean cond, String what) {
        if (!cond) {
            throw new CheckFailed("expected: " + what);
        }
    }

    static void requireEq(Object want, Object got, String what) {
        if (!java.util.Objects.equals(want, got)) {
            throw new CheckFailed(what + ": expected <" + want + "> but got <" + got + ">");
        }
    }

    /** Polls cond every 20 ms until it holds or timeoutMs passes; for states no event announces. */
    static void awaitTrue(String what, long timeoutMs, BooleanSupplier cond) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new CheckFailed("timed out after " + timeoutMs + " ms waiting for: " + what);
            }
            Thread.sleep(20);
        }
    }

    static <T> T take(BlockingQueue<T> q, String what) throws InterruptedException {
        T v = q.poll(WAIT_MS, TimeUnit.MILLISECONDS);
        if (v == null) {
            throw new CheckFailed("timed out after " + WAIT_MS + " ms waiting for: " + what);
        }
        return v;
    }

    static <T> T get(Future<T> f, String what) throws Exception {
        try {
            return f.get(WAIT_MS, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new CheckFailed("timed out after " + WAIT_MS + " ms waiting for: " + what);
        }
    }

    static BooleanSupplier exists(CuratorFramework c, String path, boolean want) {
        return () -> {
            try {
                return (c.checkExists().forPath(path) != null) == want;
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        };
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String s(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    static void note(String msg) {
        System.out.println("    " + msg);
    }

    private static List<String> filters = List.of();

    static void check(String name, Body body) {
        boolean always = name.startsWith("setup:") || name.startsWith("cleanup:");
        if (!always && !filters.isEmpty() && filters.stream().noneMatch(name::contains)) {
            return;
        }
        long t0 = System.nanoTime();
        Scope scope = new Scope();
        Future<?> f = pool.submit(() -> {
            try (scope) {
                body.run(scope);
            }
            return null;
        });
        String error = null;
        try {
            f.get(CHECK_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            scope.close();
            error = "check did not finish within " + CHECK_TIMEOUT_MS + " ms";
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable c = e.getCause();
            error = c instanceof CheckFailed ? c.getMessage() : c.toString();
            if (!(c instanceof CheckFailed)) {
                c.printStackTrace(System.out);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            error = "interrupted";
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        if (error == null) {
            passed++;
            System.out.printf("PASS %s (%d ms)%n", name, ms);
        } else {
            failures.add(name);
            System.out.printf("FAIL %s (%d ms): %s%n", name, ms, error);
        }
        System.out.flush();
    }

    // ----------------------------------------------------------------------------------------
    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: CuratorCompat HOST:PORT [check-name-substring...]");
            System.exit(2);
        }
        connect = args[0];
        filters = Arrays.asList(args).subList(1, args.length);
        base = "/compat-java-" + ProcessHandle.current().pid() + "-" + Integer.toHexString(new Random().nextInt());
        long t0 = System.nanoTime();
        System.out.println("server " + connect + ", base path " + base);

        check("setup: create the base path with Curator", s -> {
            CuratorFramework c = s.curator();
            c.create().creatingParentsIfNeeded().forPath(base, b("base"));
            requireEq("base", s(c.getData().forPath(base)), "base data");
        });

        zkClientChecks();
        curatorRecipeChecks();
        transactionChecks();
        ttlAndContainerChecks();

        check("cleanup: delete the base path recursively", s -> {
            CuratorFramework c = s.curator();
            c.delete().deletingChildrenIfNeeded().forPath(base);
            require(c.checkExists().forPath(base) == null, "base path gone");
        });

        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        System.out.printf("java-curator: %d passed, %d failed in %d ms%n", passed, failures.size(), ms);
        if (!failures.isEmpty()) {
            System.out.println("java-curator: failed: " + String.join("; ", failures));
        }
        System.out.flush();
        System.exit(failures.isEmpty() ? 0 : 1);
    }

    // ---- plain ZooKeeper client --------------------------------------------------------------
    static void zkClientChecks() {
        check("zk client: create/getData/setData/delete with versions and Stat", s -> {
            ZooKeeper zk = s.zk();
            String p = base + "/raw";
            requireEq(p, zk.create(p, b("one"), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT), "created path");
            Stat st = new Stat();
            requireEq("one", s(zk.getData(p, false, st)), "data");
            requireEq(0, st.getVersion(), "version after create");
            requireEq(st.getCzxid(), st.getMzxid(), "czxid == mzxid after create");
            Stat st2 = zk.setData(p, b("two"), 0);
            requireEq(1, st2.getVersion(), "version after setData");
            require(st2.getMzxid() > st.getMzxid(), "mzxid grows on setData");
            requireEq(3, st2.getDataLength(), "dataLength");
            try {
                zk.setData(p, b("three"), 0);
                throw new CheckFailed("setData with a stale version succeeded");
            } catch (KeeperException.BadVersionException expected) {
                // ok
            }
            try {
                zk.create(p, b("dup"), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
                throw new CheckFailed("duplicate create succeeded");
            } catch (KeeperException.NodeExistsException expected) {
                // ok
            }
            zk.create(p + "/child", b(""), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            Stat parent = zk.exists(p, false);
            requireEq(1, parent.getNumChildren(), "numChildren");
            requireEq(1, parent.getCversion(), "cversion after one child create");
            requireEq(1, parent.getVersion(), "parent data version unchanged by child create");
            try {
                zk.delete(p, -1);
                throw new CheckFailed("delete of a node with children succeeded");
            } catch (KeeperException.NotEmptyException expected) {
                // ok
            }
            requireEq(List.of("child"), zk.getChildren(p, false), "children");
            zk.delete(p + "/child", 0);
            requireEq(2, zk.exists(p, false).getCversion(), "cversion after child delete");
            zk.delete(p, 1);
            require(zk.exists(p, false) == null, "deleted node is gone");
            try {
                zk.getData(p, false, null);
                throw new CheckFailed("getData on a deleted node succeeded");
            } catch (KeeperException.NoNodeException expected) {
                // ok
            }
        });

        check("zk client: one-shot watches (data, exists, children) fire once, in order", s -> {
            BlockingQueue<WatchedEvent> events = new LinkedBlockingQueue<>();
            ZooKeeper zk = s.zk();
            ZooKeeper other = s.zk();
            String p = base + "/watched";
            Watcher w = events::add;
            require(zk.exists(p, w) == null, "exists on missing node");
            other.create(p, b("x"), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            WatchedEvent e = take(events, "NodeCreated");
            requireEq(Watcher.Event.EventType.NodeCreated, e.getType(), "event type");
            requireEq(p, e.getPath(), "event path");
            zk.getData(p, w, null);
            zk.getChildren(p, w);
            other.setData(p, b("y"), -1);
            e = take(events, "NodeDataChanged");
            requireEq(Watcher.Event.EventType.NodeDataChanged, e.getType(), "event type");
            other.create(p + "/c", b(""), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            e = take(events, "NodeChildrenChanged");
            requireEq(Watcher.Event.EventType.NodeChildrenChanged, e.getType(), "event type");
            requireEq(p, e.getPath(), "event path");
            other.setData(p, b("z"), -1); // no watch left: must not fire
            drain(zk, p);
            require(events.isEmpty(), "no further events, got " + events);
        });

        check("zk client: persistent recursive watch (addWatch)", s -> {
            BlockingQueue<WatchedEvent> events = new LinkedBlockingQueue<>();
            ZooKeeper zk = s.zk();
            ZooKeeper other = s.zk();
            String p = base + "/recursive";
            other.create(p, b(""), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            Watcher rw = events::add;
            zk.addWatch(p, rw, AddWatchMode.PERSISTENT_RECURSIVE);
            other.create(p + "/a", b(""), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            other.create(p + "/a/b", b(""), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            other.setData(p + "/a/b", b("1"), -1);
            other.setData(p + "/a/b", b("2"), -1);
            other.delete(p + "/a/b", -1);
            List<String> got = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                WatchedEvent e = take(events, "event " + (i + 1) + " of 5");
                got.add(e.getType() + " " + e.getPath().substring(p.length()));
            }
            requireEq(List.of("NodeCreated /a", "NodeCreated /a/b", "NodeDataChanged /a/b", "NodeDataChanged /a/b",
                    "NodeDeleted /a/b"), got, "events");
            drain(zk, p);
            require(events.isEmpty(), "no further events, got " + events);
            zk.removeWatches(p, rw, Watcher.WatcherType.Any, false);
            WatchedEvent removed = take(events, "PersistentWatchRemoved");
            requireEq(Watcher.Event.EventType.PersistentWatchRemoved, removed.getType(), "event on removeWatches");
            other.create(p + "/after", b(""), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            drain(zk, p);
            require(events.isEmpty(), "no events after removeWatches, got " + events);
        });

        check("zk client: multi-read returns per-op results (no abort)", s -> {
            ZooKeeper zk = s.zk();
            String p = base + "/multiread";
            zk.create(p, b("d"), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            List<OpResult> r = zk.multi(List.of(Op.getData(p), Op.getChildren(base + "/no-such"), Op.getChildren(p)));
            requireEq(3, r.size(), "results");
            require(r.get(0) instanceof OpResult.GetDataResult, "getData result, got " + r.get(0));
            requireEq("d", s(((OpResult.GetDataResult) r.get(0)).getData()), "data");
            require(r.get(1) instanceof OpResult.ErrorResult, "error result, got " + r.get(1));
            requireEq(KeeperException.Code.NONODE.intValue(), ((OpResult.ErrorResult) r.get(1)).getErr(), "error code");
            require(r.get(2) instanceof OpResult.GetChildrenResult, "getChildren result, got " + r.get(2));
        });

        check("zk client: digest ACL, NoAuth, addAuthInfo, getACL", s -> {
            ZooKeeper owner = s.zk();
            ZooKeeper stranger = s.zk();
            String p = base + "/acl";
            String digest = DigestAuthenticationProvider.generateDigest("bob:pw");
            List<ACL> acl = new ArrayList<>(List.of(new ACL(ZooDefs.Perms.ALL, new Id("digest", digest))));
            owner.create(p, b("secret"), acl, CreateMode.PERSISTENT);
            try {
                stranger.getData(p, false, null);
                throw new CheckFailed("read without auth succeeded");
            } catch (KeeperException.NoAuthException expected) {
                // ok
            }
            try {
                stranger.getACL(p, new Stat());
                throw new CheckFailed("getACL without READ/ADMIN succeeded");
            } catch (KeeperException.NoAuthException expected) {
                // ok (3.6+: getACL needs READ or ADMIN)
            }
            stranger.addAuthInfo("digest", b("bob:pw"));
            requireEq("secret", s(stranger.getData(p, false, null)), "data after addAuthInfo");
            Stat st = new Stat();
            List<ACL> got = stranger.getACL(p, st);
            requireEq(acl, got, "ACL");
            requireEq(0, st.getAversion(), "aversion");
            stranger.setACL(p, ZooDefs.Ids.OPEN_ACL_UNSAFE, 0);
            requireEq("secret", s(owner.getData(p, false, null)), "data readable after setACL world:anyone");
            requireEq(1, owner.exists(p, false).getAversion(), "aversion after setACL");
        });

        check("zk client: ephemeral nodes, session reattach with id+password, bad password expires", s -> {
            BlockingQueue<WatchedEvent> ev2 = new LinkedBlockingQueue<>();
            BlockingQueue<WatchedEvent> ev3 = new LinkedBlockingQueue<>();
            ZooKeeper zk1 = s.zk();
            ZooKeeper observer = s.zk();
            String p = base + "/eph";
            zk1.create(p, b(""), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
            requireEq(zk1.getSessionId(), observer.exists(p, false).getEphemeralOwner(), "ephemeralOwner");
            require(observer.getEphemerals(base).contains(p) == false, "observer owns no ephemerals");
            require(zk1.getEphemerals(base).contains(p), "getEphemerals lists the node");
            byte[] wrong = zk1.getSessionPasswd().clone();
            wrong[0] ^= 0x5a;
            s.zk(ev3, zk1.getSessionId(), wrong);
            WatchedEvent e;
            do {
                e = take(ev3, "Expired event for a wrong session password");
            } while (e.getState() != Watcher.Event.KeeperState.Expired);
            require(observer.exists(p, false) != null, "ephemeral survives a bad-password attempt");
            ZooKeeper zk2 = s.zk(ev2, zk1.getSessionId(), zk1.getSessionPasswd());
            do {
                e = take(ev2, "SyncConnected on reattach");
            } while (e.getState() != Watcher.Event.KeeperState.SyncConnected);
            requireEq(zk1.getSessionId(), zk2.getSessionId(), "reattached session id");
            require(observer.exists(p, false) != null, "ephemeral survives the reattach");
            zk2.close(5_000);
            require(observer.exists(p, false) == null, "ephemeral deleted when the session is closed");
        });
    }

    // ---- Curator recipes ---------------------------------------------------------------------
    static void curatorRecipeChecks() {
        check("curator: InterProcessMutex, two clients contending, FIFO order", s -> {
            CuratorFramework c1 = s.curator();
            CuratorFramework c2 = s.curator();
            String path = base + "/mutex";
            InterProcessMutex m1 = new InterProcessMutex(c1, path);
            InterProcessMutex m2 = new InterProcessMutex(c2, path);
            InterProcessMutex m1b = new InterProcessMutex(c1, path);
            List<String> order = Collections.synchronizedList(new ArrayList<>());
            AtomicInteger holders = new AtomicInteger();
            AtomicInteger maxHolders = new AtomicInteger();

            require(m1.acquire(WAIT_MS, TimeUnit.MILLISECONDS), "c1 acquires the free lock");
            require(m1.acquire(WAIT_MS, TimeUnit.MILLISECONDS), "c1 re-enters its lock");
            m1.release();
            holders.incrementAndGet();
            maxHolders.set(1);
            order.add("c1");
            require(!m2.acquire(200, TimeUnit.MILLISECONDS), "c2 cannot take the held lock (200 ms try)");

            Future<Void> f2 = pool.submit(() -> {
                require(m2.acquire(WAIT_MS, TimeUnit.MILLISECONDS), "c2 acquires");
                maxHolders.accumulateAndGet(holders.incrementAndGet(), Math::max);
                order.add("c2");
                holders.decrementAndGet();
                m2.release();
                return null;
            });
            awaitTrue("c2 queued behind c1", WAIT_MS, () -> participants(m1) == 2);
            Future<Void> f3 = pool.submit(() -> {
                require(m1b.acquire(WAIT_MS, TimeUnit.MILLISECONDS), "c1 (second thread) acquires");
                maxHolders.accumulateAndGet(holders.incrementAndGet(), Math::max);
                order.add("c1b");
                holders.decrementAndGet();
                m1b.release();
                return null;
            });
            awaitTrue("c1b queued behind c2", WAIT_MS, () -> participants(m1) == 3);
            require(!f2.isDone() && !f3.isDone(), "waiters blocked while c1 holds the lock");
            holders.decrementAndGet();
            m1.release();
            get(f2, "c2 to get and release the lock");
            get(f3, "c1b to get and release the lock");
            requireEq(List.of("c1", "c2", "c1b"), order, "acquisition order");
            requireEq(1, maxHolders.get(), "holders at once");
            requireEq(0, participants(m1), "lock nodes left");
            note("order " + order);
        });

        check("curator: LeaderLatch, exactly one leader, leadership moves on close", s -> {
            String path = base + "/leader";
            List<LeaderLatch> latches = new ArrayList<>();
            BlockingQueue<String> elected = new LinkedBlockingQueue<>();
            for (int i = 0; i < 3; i++) {
                CuratorFramework c = s.curator();
                LeaderLatch l = new LeaderLatch(c, path, "node-" + i);
                String id = l.getId();
                l.addListener(new LeaderLatchListener() {
                    @Override
                    public void isLeader() {
                        elected.add(id);
                    }

                    @Override
                    public void notLeader() {
                    }
                });
                latches.add(l);
            }
            for (LeaderLatch l : latches) {
                s.add(() -> {
                    if (l.getState() == LeaderLatch.State.STARTED) {
                        l.close();
                    }
                });
                l.start();
            }
            String first = take(elected, "a first leader");
            awaitTrue("all 3 participants registered", WAIT_MS, () -> participantsOf(latches.get(0)) == 3);
            requireEq(1, leaders(latches), "leaders among 3 latches");
            LeaderLatch leader = latches.stream().filter(l -> l.getId().equals(first)).findFirst().orElseThrow();
            require(leader.hasLeadership(), "the elected latch says it leads");
            for (LeaderLatch l : latches) {
                requireEq(first, l.getLeader().getId(), "leader seen by " + l.getId());
            }
            leader.close();
            latches.remove(leader);
            String second = take(elected, "a new leader after close");
            require(!second.equals(first), "leadership moved");
            requireEq(1, leaders(latches), "leaders among 2 latches");
            requireEq(second, latches.get(0).getLeader().getId(), "leader seen by the others");
            require(elected.isEmpty(), "no extra elections: " + elected);
            note("leader " + first + " -> " + second);
        });

        check("curator: DistributedBarrier blocks until removed", s -> {
            String path = base + "/barrier";
            DistributedBarrier b1 = new DistributedBarrier(s.curator(), path);
            DistributedBarrier b2 = new DistributedBarrier(s.curator(), path);
            b1.setBarrier();
            require(!b2.waitOnBarrier(300, TimeUnit.MILLISECONDS), "waitOnBarrier times out while the barrier is set");
            Future<Boolean> waiting = pool.submit(() -> b2.waitOnBarrier(WAIT_MS, TimeUnit.MILLISECONDS));
            b1.removeBarrier();
            require(get(waiting, "waitOnBarrier to return"), "waitOnBarrier returns true once removed");
        });

        check("curator: DistributedDoubleBarrier with 3 members", s -> {
            String path = base + "/double-barrier";
            CuratorFramework watcher = s.curator();
            List<DistributedDoubleBarrier> members = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                members.add(new DistributedDoubleBarrier(s.curator(), path, 3));
            }
            List<Future<Boolean>> enters = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                DistributedDoubleBarrier m = members.get(i);
                enters.add(pool.submit(() -> m.enter(WAIT_MS, TimeUnit.MILLISECONDS)));
            }
            awaitTrue("2 members waiting", WAIT_MS, () -> memberNodes(watcher, path) == 2);
            require(enters.stream().noneMatch(Future::isDone), "2 of 3 members block in enter()");
            enters.add(pool.submit(() -> members.get(2).enter(WAIT_MS, TimeUnit.MILLISECONDS)));
            for (Future<Boolean> f : enters) {
                require(get(f, "enter()"), "enter() returns true once 3 are in");
            }
            List<Future<Boolean>> leaves = new ArrayList<>();
            for (DistributedDoubleBarrier m : members) {
                leaves.add(pool.submit(() -> m.leave(WAIT_MS, TimeUnit.MILLISECONDS)));
            }
            for (Future<Boolean> f : leaves) {
                require(get(f, "leave()"), "leave() returns true");
            }
            requireEq(0, memberNodes(watcher, path), "member nodes after leave");
        });

        check("curator: CuratorCache sees create/change/delete in a subtree", s -> {
            String path = base + "/cache";
            CuratorFramework writer = s.curator();
            CuratorFramework reader = s.curator();
            writer.create().forPath(path, b("root"));
            writer.create().forPath(path + "/pre", b("pre"));
            BlockingQueue<String> events = new LinkedBlockingQueue<>();
            CountDownLatch initialized = new CountDownLatch(1);
            CuratorCache cache = s.add(CuratorCache.build(reader, path));
            cache.listenable().addListener(CuratorCacheListener.builder()
                    .forCreates(n -> events.add("create " + rel(path, n) + " " + s(n.getData())))
                    .forChanges((o, n) -> events.add("change " + rel(path, n) + " " + s(o.getData()) + "->" + s(n.getData())))
                    .forDeletes(o -> events.add("delete " + rel(path, o)))
                    .forInitialized(initialized::countDown)
                    .build());
            cache.start();
            require(initialized.await(WAIT_MS, TimeUnit.MILLISECONDS), "cache initialized");
            List<String> initial = new ArrayList<>();
            events.drainTo(initial);
            Collections.sort(initial);
            requireEq(List.of("create  root", "create /pre pre"), initial, "initial events");

            writer.create().forPath(path + "/a", b("1"));
            requireEq("create /a 1", take(events, "create /a"), "event");
            writer.create().forPath(path + "/a/b", b("2"));
            requireEq("create /a/b 2", take(events, "create /a/b (grandchild)"), "event");
            writer.setData().forPath(path + "/a", b("3"));
            requireEq("change /a 1->3", take(events, "change /a"), "event");
            writer.setData().forPath(path + "/a/b", b("4"));
            requireEq("change /a/b 2->4", take(events, "change /a/b"), "event");
            writer.delete().forPath(path + "/a/b");
            requireEq("delete /a/b", take(events, "delete /a/b"), "event");
            writer.delete().forPath(path + "/pre");
            requireEq("delete /pre", take(events, "delete /pre"), "event");
            requireEq("3", s(cache.get(path + "/a").map(ChildData::getData).orElse(null)), "cached data of /a");
            requireEq(2, cache.size(), "cached nodes (root and /a)");
        });

        check("curator: DistributedQueue delivers every item once, in order", s -> {
            String path = base + "/queue";
            BlockingQueue<String> received = new LinkedBlockingQueue<>();
            QueueSerializer<String> ser = new QueueSerializer<>() {
                @Override
                public byte[] serialize(String item) {
                    return b(item);
                }

                @Override
                public String deserialize(byte[] bytes) {
                    return s(bytes);
                }
            };
            QueueConsumer<String> consumer = new QueueConsumer<>() {
                @Override
                public void consumeMessage(String message) {
                    received.add(message);
                }

                @Override
                public void stateChanged(CuratorFramework client, ConnectionState newState) {
                }
            };
            DistributedQueue<String> consumerQueue = s.add(QueueBuilder.builder(s.curator(), consumer, ser, path).buildQueue());
            consumerQueue.start();
            DistributedQueue<String> producer = s.add(QueueBuilder.builder(s.curator(), null, ser, path).buildQueue());
            producer.start();
            List<String> sent = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                sent.add("item-" + i);
                producer.put("item-" + i);
            }
            List<String> got = new ArrayList<>();
            for (int i = 0; i < sent.size(); i++) {
                got.add(take(received, "queue item " + i));
            }
            requireEq(sent, got, "items received");
            CuratorFramework c = s.curator();
            awaitTrue("queue drained", WAIT_MS, () -> {
                try {
                    return c.getChildren().forPath(path).isEmpty();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
        });

        check("curator: DistributedAtomicLong, concurrent increments from two clients", s -> {
            String path = base + "/atomic";
            DistributedAtomicLong a1 = new DistributedAtomicLong(s.curator(), path, new RetryNTimes(100, 5));
            DistributedAtomicLong a2 = new DistributedAtomicLong(s.curator(), path, new RetryNTimes(100, 5));
            List<Future<Integer>> workers = new ArrayList<>();
            for (DistributedAtomicLong a : List.of(a1, a2)) {
                workers.add(pool.submit(() -> {
                    int retries = 0;
                    for (int i = 0; i < 50; i++) {
                        AtomicValue<Long> v = a.increment();
                        while (!v.succeeded()) {
                            retries++;
                            require(retries < 1000, "increment succeeds eventually");
                            v = a.increment();
                        }
                    }
                    return retries;
                }));
            }
            for (Future<Integer> w : workers) {
                get(w, "50 increments");
            }
            requireEq(100L, a1.get().postValue(), "value after 2 x 50 increments");
            require(a2.compareAndSet(100L, 7L).succeeded(), "compareAndSet(100, 7)");
            require(!a1.compareAndSet(100L, 8L).succeeded(), "compareAndSet with a stale expected value fails");
            requireEq(7L, a1.get().postValue(), "value after compareAndSet");
        });

        check("curator: SharedCount, versioned trySetCount and listeners", s -> {
            String path = base + "/shared-count";
            SharedCount s1 = s.add(new SharedCount(s.curator(), path, 0));
            SharedCount s2 = s.add(new SharedCount(s.curator(), path, 0));
            BlockingQueue<Integer> seen = new LinkedBlockingQueue<>();
            s2.addListener(new SharedCountListener() {
                @Override
                public void countHasChanged(SharedCountReader reader, int newCount) {
                    seen.add(newCount);
                }

                @Override
                public void stateChanged(CuratorFramework client, ConnectionState newState) {
                }
            });
            s1.start();
            s2.start();
            s1.setCount(5);
            requireEq(5, take(seen, "listener sees 5"), "count seen by the other client");
            VersionedValue<Integer> v = s1.getVersionedValue();
            requireEq(5, v.getValue(), "versioned value");
            require(s1.trySetCount(v, 6), "trySetCount with the current version");
            require(!s1.trySetCount(v, 7), "trySetCount with a stale version fails");
            requireEq(6, take(seen, "listener sees 6"), "count seen by the other client");
            awaitTrue("s2 reads 6", WAIT_MS, () -> s2.getCount() == 6);
        });
    }

    // ---- transactions ------------------------------------------------------------------------
    static void transactionChecks() {
        check("curator: transaction (multi) that succeeds", s -> {
            CuratorFramework c = s.curator();
            String p = base + "/txn";
            c.create().forPath(p);
            List<CuratorTransactionResult> r = c.transaction().forOperations(
                    c.transactionOp().create().forPath(p + "/a", b("a1")),
                    c.transactionOp().setData().forPath(p + "/a", b("a2")),
                    c.transactionOp().check().withVersion(1).forPath(p + "/a"),
                    c.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath(p + "/s-", b("")),
                    c.transactionOp().create().forPath(p + "/b"),
                    c.transactionOp().delete().forPath(p + "/b"));
            requireEq(6, r.size(), "results");
            requireEq(OperationType.CREATE, r.get(0).getType(), "result 0 type");
            requireEq(p + "/a", r.get(0).getResultPath(), "result 0 path");
            requireEq(OperationType.SET_DATA, r.get(1).getType(), "result 1 type");
            requireEq(1, r.get(1).getResultStat().getVersion(), "result 1 stat version");
            requireEq(OperationType.CHECK, r.get(2).getType(), "result 2 type");
            requireEq(p + "/s-0000000001", r.get(3).getResultPath(), "sequential name inside multi");
            requireEq(OperationType.DELETE, r.get(5).getType(), "result 5 type");
            requireEq("a2", s(c.getData().forPath(p + "/a")), "data after multi");
            require(c.checkExists().forPath(p + "/b") == null, "created-then-deleted node is absent");
            Stat a = c.checkExists().forPath(p + "/a");
            requireEq(a.getCzxid(), a.getMzxid(), "one zxid for the whole multi (czxid == mzxid of /a)");
        });

        check("curator: transaction that fails is atomic and reports per-op errors", s -> {
            CuratorFramework c = s.curator();
            String p = base + "/txn-fail";
            c.create().forPath(p, b("v0"));
            c.setData().forPath(p, b("v1")); // version 1
            Stat before = c.checkExists().forPath(p);
            try {
                c.transaction().forOperations(
                        c.transactionOp().create().forPath(p + "/c", b("")),
                        c.transactionOp().setData().withVersion(0).forPath(p, b("stale")),
                        c.transactionOp().create().forPath(p + "/d", b("")));
                throw new CheckFailed("transaction with a stale version succeeded");
            } catch (KeeperException.BadVersionException e) {
                List<OpResult> r = e.getResults();
                require(r != null, "KeeperException carries the per-op results");
                requireEq(3, r.size(), "results");
                List<Integer> codes = new ArrayList<>();
                for (OpResult o : r) {
                    require(o instanceof OpResult.ErrorResult, "every result is an ErrorResult, got " + o);
                    codes.add(((OpResult.ErrorResult) o).getErr());
                }
                requireEq(List.of(KeeperException.Code.OK.intValue(), KeeperException.Code.BADVERSION.intValue(),
                        KeeperException.Code.RUNTIMEINCONSISTENCY.intValue()), codes, "per-op error codes");
            }
            require(c.checkExists().forPath(p + "/c") == null, "op before the failure rolled back");
            require(c.checkExists().forPath(p + "/d") == null, "op after the failure not applied");
            Stat after = c.checkExists().forPath(p);
            requireEq(before.getMzxid(), after.getMzxid(), "node untouched");
            requireEq(before.getCversion(), after.getCversion(), "cversion untouched");

            try {
                c.transaction().forOperations(
                        c.transactionOp().check().forPath(p + "/missing"),
                        c.transactionOp().create().forPath(p + "/e", b("")));
                throw new CheckFailed("transaction with a failing check succeeded");
            } catch (KeeperException.NoNodeException e) {
                requireEq(KeeperException.Code.NONODE.intValue(), ((OpResult.ErrorResult) e.getResults().get(0)).getErr(), "check error");
            }
            require(c.checkExists().forPath(p + "/e") == null, "nothing applied after a failed check");
        });
    }

    // ---- TTL and container nodes -------------------------------------------------------------
    static void ttlAndContainerChecks() {
        check("curator: TTL node (PERSISTENT_WITH_TTL) is created and expires", s -> {
            CuratorFramework c = s.curator();
            String p = base + "/ttl";
            c.create().forPath(p);
            c.create().withTtl(500).withMode(CreateMode.PERSISTENT_WITH_TTL).forPath(p + "/short", b("x"));
            String seq = c.create().withTtl(600_000).withMode(CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL).forPath(p + "/seq-", b("y"));
            require(seq.matches(".*/seq-\\d{10}"), "sequential TTL name, got " + seq);
            Stat st = c.checkExists().forPath(p + "/short");
            require(st != null, "TTL node exists right after create");
            requireEq(0L, st.getEphemeralOwner(), "ephemeralOwner of a TTL node as seen by clients");
            long t0 = System.nanoTime();
            awaitTrue("TTL node removed by the server", WAIT_MS, exists(c, p + "/short", false));
            note("TTL 500 ms node gone after " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0) + " ms");
            require(c.checkExists().forPath(seq) != null, "long-TTL node still there");
        });

        check("curator: container node removed once its last child is deleted", s -> {
            CuratorFramework c = s.curator();
            String p = base + "/containers";
            c.create().forPath(p);
            c.create().withMode(CreateMode.CONTAINER).forPath(p + "/used");
            c.create().withMode(CreateMode.CONTAINER).forPath(p + "/never-used");
            c.create().forPath(p + "/used/child");
            Stat st = c.checkExists().forPath(p + "/used");
            requireEq(0L, st.getEphemeralOwner(), "ephemeralOwner of a container as seen by clients");
            c.delete().forPath(p + "/used/child");
            long t0 = System.nanoTime();
            awaitTrue("emptied container removed by the server", WAIT_MS, exists(c, p + "/used", false));
            note("container gone after " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0) + " ms");
            require(c.checkExists().forPath(p + "/never-used") != null,
                    "a container that never had a child is kept");
            c.create().creatingParentContainersIfNeeded().forPath(p + "/auto/parent/leaf");
            c.delete().forPath(p + "/auto/parent/leaf");
            awaitTrue("parent containers made by creatingParentContainersIfNeeded go away", WAIT_MS,
                    exists(c, p + "/auto", false));
        });
    }

    // ---- helpers -----------------------------------------------------------------------------

    /**
     * Waits for an async sync() round trip on zk.  Replies and watch events of a session are
     * delivered in order on its event thread, so once the callback has run every notification the
     * server sent before the reply has been handed to its watcher.
     */
    static void drain(ZooKeeper zk, String path) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        zk.sync(path, (rc, p, ctx) -> done.countDown(), null);
        require(done.await(WAIT_MS, TimeUnit.MILLISECONDS), "sync round trip within " + WAIT_MS + " ms");
    }
    static int participants(InterProcessMutex m) {
        try {
            return m.getParticipantNodes().size();
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    static int participantsOf(LeaderLatch l) {
        try {
            return l.getParticipants().size();
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    static int leaders(Collection<LeaderLatch> latches) {
        int n = 0;
        for (LeaderLatch l : latches) {
            if (l.hasLeadership()) {
                n++;
            }
        }
        return n;
    }

    static int memberNodes(CuratorFramework c, String path) {
        try {
            if (c.checkExists().forPath(path) == null) {
                return 0;
            }
            return (int) c.getChildren().forPath(path).stream().filter(n -> !n.equals("ready")).count();
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    static String rel(String root, ChildData n) {
        return n.getPath().substring(root.length());
    }
}
