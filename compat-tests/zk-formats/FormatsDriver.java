// Drives Apache ZooKeeper for crates/zk-storage/tests/java_formats.rs: fills a server with a
// varied tree (every node kind, ACL kind and Stat change the on-disk formats must carry) and
// dumps what the server serves, so the Rust test can compare it with what it reads from disk.
//
//   java FormatsDriver populate <host:port> <dump-file>   fill, dump, print SESSION + READY,
//                                                         then hold the session until stdin closes
//   java FormatsDriver dump <host:port> <dump-file>       dump and exit
//
// Dump: one line per node, sorted by path, fields separated by one space:
//   <path hex> czxid mzxid ctime mtime version cversion aversion ephemeralOwner dataLength
//   numChildren pzxid <data hex | - for null | = for empty> <acl,acl,... | ->
// where each ACL is perms:<scheme hex>:<id hex>. Strings are hex of their UTF-8 bytes.
// The populating session authenticates as digest alice:secret (the creator of the private
// nodes); the dumping one as super:secret, which the server must accept as its superDigest so
// that every node can be read and no digest is redacted from getACL.

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.StatsTrack;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.cli.SetQuotaCommand;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;

public class FormatsDriver {
    static final List<ACL> OPEN = Ids.OPEN_ACL_UNSAFE;

    static ZooKeeper connect(String hostPort, int timeoutMs, String auth) throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(hostPort, timeoutMs, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        });
        if (!connected.await(60, TimeUnit.SECONDS)) {
            throw new IllegalStateException("no connection to " + hostPort + " within 60 s");
        }
        zk.addAuthInfo("digest", auth.getBytes(StandardCharsets.UTF_8));
        return zk;
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder(b.length * 2);
        for (byte x : b) {
            sb.append(String.format("%02x", x & 0xff));
        }
        return sb.toString();
    }

    static void populate(ZooKeeper zk, String hostPort) throws Exception {
        zk.create("/app", b("hello"), OPEN, CreateMode.PERSISTENT);
        for (int i = 0; i < 3; i++) {
            zk.create("/app/seq-", b("s" + i), OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        }
        // Ephemerals of the session that stays open while the server is killed.
        zk.create("/app/eph", b("mine"), OPEN, CreateMode.EPHEMERAL);
        zk.create("/app/ephseq-", b("mine too"), OPEN, CreateMode.EPHEMERAL_SEQUENTIAL);
        // A session that closes: its ephemeral goes away through closeSession.
        ZooKeeper other = connect(hostPort, 20000, "carol:pw");
        other.create("/app/eph-closed", b("gone"), OPEN, CreateMode.EPHEMERAL);
        other.create("/from-other", b("stays"), OPEN, CreateMode.PERSISTENT);
        other.close();
        // Containers: one with a child (kept), one never used (kept too).
        zk.create("/cont", b("c"), OPEN, CreateMode.CONTAINER);
        zk.create("/cont/child", b("x"), OPEN, CreateMode.PERSISTENT);
        zk.create("/cont-empty", null, OPEN, CreateMode.CONTAINER);
        // TTL nodes (an hour: they outlive the test).
        Stat st = new Stat();
        zk.create("/ttl", b("t"), OPEN, CreateMode.PERSISTENT_WITH_TTL, st, 3_600_000L);
        zk.create("/ttlseq-", b("ts"), OPEN, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, st, 3_600_000L);
        // ACLs: creator-only digest, mixed digest + world, ip.
        zk.create("/secure", b("secret"), Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
        List<ACL> mixed = new ArrayList<>();
        mixed.add(new ACL(Perms.READ | Perms.WRITE,
            new Id("digest", DigestAuthenticationProvider.generateDigest("bob:pw"))));
        mixed.add(new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE));
        zk.create("/mixed", b("m"), mixed, CreateMode.PERSISTENT);
        zk.create("/secure/child", b("c"), mixed, CreateMode.PERSISTENT);
        zk.create("/iponly", b("ip"),
            Collections.singletonList(new ACL(Perms.ALL, new Id("ip", "127.0.0.1"))),
            CreateMode.PERSISTENT);
        // Large, null, empty and non-ASCII data and paths.
        byte[] big = new byte[500 * 1024];
        new Random(42).nextBytes(big);
        zk.create("/big", big, OPEN, CreateMode.PERSISTENT);
        zk.create("/nulldata", null, OPEN, CreateMode.PERSISTENT);
        zk.create("/empty", new byte[0], OPEN, CreateMode.PERSISTENT);
        zk.create("/\u00fcn\u00efc\u00f8d\u00e9", b("\u00e7a \u20ac"), OPEN, CreateMode.PERSISTENT);
        // Stat changes: versions, aversion, cversion/pzxid on delete.
        for (int i = 0; i < 3; i++) {
            zk.setData("/app", b("hello v" + (i + 2)), -1);
        }
        zk.setACL("/app", OPEN, -1);
        zk.delete("/app/seq-0000000001", -1);
        // A multi that commits and one that fails (logged as an error multi).
        zk.multi(Arrays.asList(
            Op.create("/multi", b("m0"), OPEN, CreateMode.PERSISTENT),
            Op.create("/multi/a", b("a"), OPEN, CreateMode.PERSISTENT),
            Op.setData("/multi", b("m1"), -1)));
        try {
            zk.multi(Arrays.asList(
                Op.create("/multi/b", b("b"), OPEN, CreateMode.PERSISTENT),
                Op.delete("/does-not-exist", -1)));
            throw new IllegalStateException("the failing multi succeeded");
        } catch (KeeperException.NoNodeException expected) {
            // the whole multi is rolled back
        }
        // A quota on /app: /zookeeper/quota/app/zookeeper_{limits,stats}.
        StatsTrack quota = new StatsTrack();
        quota.setCount(100);
        quota.setBytes(-1L);
        SetQuotaCommand.createQuota(zk, "/app", quota);
        zk.create("/app/after-quota", b("q"), OPEN, CreateMode.PERSISTENT);
        // Enough txns for several snapshots and log files at snapCount=10.
        zk.create("/many", null, OPEN, CreateMode.PERSISTENT);
        for (int i = 0; i < 150; i++) {
            zk.create(String.format("/many/n-%03d", i), b("value " + i), OPEN, CreateMode.PERSISTENT);
        }
        for (int i = 0; i < 150; i += 7) {
            zk.setData(String.format("/many/n-%03d", i), b("changed " + i), -1);
        }
        for (int i = 1; i < 150; i += 11) {
            zk.delete(String.format("/many/n-%03d", i), -1);
        }
        zk.setData("/app", b("final"), -1);
    }

    static void dump(ZooKeeper zk, String file) throws Exception {
        List<String> lines = new ArrayList<>();
        Deque<String> todo = new ArrayDeque<>();
        todo.add("/");
        while (!todo.isEmpty()) {
            String path = todo.poll();
            Stat s = new Stat();
            byte[] data = zk.getData(path, false, s);
            List<ACL> acls = zk.getACL(path, new Stat());
            StringBuilder a = new StringBuilder();
            for (ACL acl : acls) {
                if (a.length() > 0) {
                    a.append(',');
                }
                a.append(acl.getPerms()).append(':').append(hex(b(acl.getId().getScheme())))
                    .append(':').append(hex(b(acl.getId().getId())));
            }
            lines.add(String.join(" ", hex(b(path)),
                Long.toString(s.getCzxid()), Long.toString(s.getMzxid()),
                Long.toString(s.getCtime()), Long.toString(s.getMtime()),
                Integer.toString(s.getVersion()), Integer.toString(s.getCversion()),
                Integer.toString(s.getAversion()), Long.toString(s.getEphemeralOwner()),
                Integer.toString(s.getDataLength()), Integer.toString(s.getNumChildren()),
                Long.toString(s.getPzxid()),
                data == null ? "-" : data.length == 0 ? "=" : hex(data),
                a.length() == 0 ? "-" : a.toString()));
            for (String c : zk.getChildren(path, false)) {
                todo.add(path.equals("/") ? "/" + c : path + "/" + c);
            }
        }
        Collections.sort(lines);
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(Paths.get(file)))) {
            for (String l : lines) {
                w.println(l);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: FormatsDriver populate|dump <host:port> <dump-file>");
            System.exit(2);
        }
        String mode = args[0];
        String hostPort = args[1];
        if (mode.equals("populate")) {
            ZooKeeper zk = connect(hostPort, 600_000, "alice:secret");
            populate(zk, hostPort);
            ZooKeeper su = connect(hostPort, 30_000, "super:secret");
            dump(su, args[2]);
            su.close();
            System.out.println("SESSION " + zk.getSessionId() + " " + zk.getSessionTimeout());
            System.out.println("READY");
            System.out.flush();
            // Hold the session (and its ephemerals) until the test closes our stdin; never
            // close it: the server is killed under it.
            while (System.in.read() != -1) {
                // nothing
            }
            Runtime.getRuntime().halt(0);
        } else if (mode.equals("dump")) {
            ZooKeeper zk = connect(hostPort, 30_000, "super:secret");
            dump(zk, args[2]);
            zk.close();
        } else {
            System.err.println("unknown mode " + mode);
            System.exit(2);
        }
    }
}
