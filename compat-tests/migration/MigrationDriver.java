// Drives a server for compat-tests/migration/run with Apache ZooKeeper's own Java client.
//
//   java MigrationDriver populate <host:port> <dump-file> <round>
//       writes the varied tree below, dumps it, prints "SESSION <id hex>" and "READY", then
//       holds its session (and that session's ephemerals) open until stdin closes, and exits
//       without closing it: the session is still live when the server is stopped under it.
//   java MigrationDriver change <host:port> <dump-file> <round>
//       a few more writes (run against Ferrokeeper before an export), then a dump.
//   java MigrationDriver dump <host:port> <dump-file>
//       dump only.
//   java MigrationDriver snapdigest <version-2 dir> -
//       reads the newest snapshot (a plain one) with Apache ZooKeeper's FileSnap; exits 1
//       unless it records a digest for its zxid equal to the one ZooKeeper computes over the
//       tree it read.
//   java MigrationDriver empty-container <host:port> <path>
//       deletes the children of container <path> and waits for the server to delete it.
//
// Dump: one line per node, sorted by path, fields separated by one space:
//   path czxid mzxid ctime mtime version cversion aversion ephemeralOwner(hex) dataLength
//   numChildren pzxid data acls
// data is "null", "empty" or "sha256:<hex>" of the bytes; acls is "perms:scheme:id" joined
// with ",". The dumping session authenticates as super:secret (the servers run with that
// superDigest) so that every node can be read and getACL redacts nothing.

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
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
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.cli.SetQuotaCommand;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;

public class MigrationDriver {
    static final List<ACL> OPEN = Ids.OPEN_ACL_UNSAFE;
    static final long HOUR_MS = 3_600_000L;

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
        if (auth != null) {
            zk.addAuthInfo("digest", auth.getBytes(StandardCharsets.UTF_8));
        }
        return zk;
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] random(int len, long seed) {
        byte[] out = new byte[len];
        new Random(seed).nextBytes(out);
        return out;
    }

    static ACL digestAcl(int perms, String userPw) throws Exception {
        return new ACL(perms, new Id("digest", DigestAuthenticationProvider.generateDigest(userPw)));
    }

    static void populate(ZooKeeper zk, String hostPort, String round) throws Exception {
        // Persistent nodes, one of them rewritten many times (version) and re-ACL'd (aversion).
        zk.create("/app", b("v0 " + round), OPEN, CreateMode.PERSISTENT);
        zk.create("/app/config", b("{\"round\":\"" + round + "\"}"), OPEN, CreateMode.PERSISTENT);
        for (int i = 1; i <= 25; i++) {
            zk.setData("/app/config", b("rewrite " + i), i - 1);
        }
        zk.setACL("/app/config", Arrays.asList(new ACL(Perms.ALL, Ids.ANYONE_ID_UNSAFE)), 0);
        zk.setACL("/app/config", Arrays.asList(digestAcl(Perms.ALL, "bob:pw"),
            new ACL(Perms.READ | Perms.ADMIN, Ids.ANYONE_ID_UNSAFE)), 1);
        zk.setACL("/app/config", OPEN, 2);

        // Sequentials under several parents; some of them deleted (cversion, pzxid).
        zk.create("/queue", null, OPEN, CreateMode.PERSISTENT);
        zk.create("/queue/a", null, OPEN, CreateMode.PERSISTENT);
        zk.create("/queue/b", b("b"), OPEN, CreateMode.PERSISTENT);
        for (int i = 0; i < 7; i++) {
            zk.create("/queue/a/item-", b("a" + i), OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        }
        for (int i = 0; i < 4; i++) {
            zk.create("/queue/b/job-", b("b" + i), OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        }
        zk.create("/queue/b/job-", b("b-last"), OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        zk.delete("/queue/a/item-0000000002", -1);
        zk.delete("/queue/a/item-0000000005", -1);
        zk.create("/app/seq-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        zk.create("/app/seq-", new byte[0], OPEN, CreateMode.PERSISTENT_SEQUENTIAL);

        // A parent whose children were all deleted, one that lost some.
        zk.create("/parent-emptied", b("p"), OPEN, CreateMode.PERSISTENT);
        zk.create("/parent-some", b("p"), OPEN, CreateMode.PERSISTENT);
        for (int i = 0; i < 6; i++) {
            zk.create("/parent-emptied/c" + i, b("c" + i), OPEN, CreateMode.PERSISTENT);
            zk.create("/parent-some/c" + i, b("c" + i), OPEN, CreateMode.PERSISTENT);
        }
        for (int i = 0; i < 6; i++) {
            zk.delete("/parent-emptied/c" + i, -1);
        }
        zk.delete("/parent-some/c1", -1);
        zk.delete("/parent-some/c4", -1);
        // Deleted and created again: a new czxid, the parent's cversion moves twice.
        zk.delete("/parent-some/c2", -1);
        zk.create("/parent-some/c2", b("again"), OPEN, CreateMode.PERSISTENT);
        // setData on a child does not move the parent's cversion/pzxid.
        zk.setData("/parent-some/c0", b("changed"), -1);

        // Ephemerals of this session (kept open across the server stop), plain and sequential.
        zk.create("/live", null, OPEN, CreateMode.PERSISTENT);
        zk.create("/live/owner", b("held by the populating session"), OPEN, CreateMode.EPHEMERAL);
        zk.create("/live/member-", b("m"), OPEN, CreateMode.EPHEMERAL_SEQUENTIAL);
        zk.create("/live/member-", null, OPEN, CreateMode.EPHEMERAL_SEQUENTIAL);
        zk.create("/app/eph-under-app", b("e"), Ids.CREATOR_ALL_ACL, CreateMode.EPHEMERAL);
        // A second live session with another timeout, never closed either.
        ZooKeeper dave = connect(hostPort, 120_000, "dave:pw");
        dave.create("/live/dave", b("second live session"), OPEN, CreateMode.EPHEMERAL);
        dave.create("/queue/b/dave-", null, OPEN, CreateMode.EPHEMERAL_SEQUENTIAL);
        // A session that closes: its ephemerals are gone, its persistent node stays.
        ZooKeeper other = connect(hostPort, 30_000, "carol:pw");
        other.create("/live/gone", b("closed session"), OPEN, CreateMode.EPHEMERAL);
        other.create("/from-carol", b("stays"), Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
        other.close();

        // Containers: with children (kept), never used (kept).
        zk.create("/cont", b("container"), OPEN, CreateMode.CONTAINER);
        zk.create("/cont/child", b("x"), OPEN, CreateMode.PERSISTENT);
        zk.create("/cont/child2", b("y"), OPEN, CreateMode.PERSISTENT);
        zk.create("/cont-empty", null, OPEN, CreateMode.CONTAINER);
        zk.create("/cont/eph", b("e"), OPEN, CreateMode.EPHEMERAL);
        // Emptied after the import (on Ferrokeeper) and after the export (on ZooKeeper): each
        // server's container sweep must then delete it.
        zk.create("/cont-fk", null, OPEN, CreateMode.CONTAINER);
        zk.create("/cont-fk/child", null, OPEN, CreateMode.PERSISTENT);
        zk.create("/cont-zk", null, OPEN, CreateMode.CONTAINER);
        zk.create("/cont-zk/child", null, OPEN, CreateMode.PERSISTENT);

        // TTL nodes (an hour: they outlive the test), plain, sequential, and one with a child.
        Stat st = new Stat();
        zk.create("/ttl", b("t"), OPEN, CreateMode.PERSISTENT_WITH_TTL, st, HOUR_MS);
        zk.create("/ttl/child", b("tc"), OPEN, CreateMode.PERSISTENT);
        zk.create("/ttl-seq-", b("ts"), OPEN, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, st, 2 * HOUR_MS);
        zk.create("/ttl-short", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, st, 600_000L);

        // ACLs: digest, world read-only, ip, auth (creator), and a mix.
        zk.create("/acl", null, OPEN, CreateMode.PERSISTENT);
        zk.create("/acl/digest", b("d"), Arrays.asList(digestAcl(Perms.READ | Perms.WRITE, "bob:pw")),
            CreateMode.PERSISTENT);
        zk.create("/acl/readonly", b("r"), Ids.READ_ACL_UNSAFE, CreateMode.PERSISTENT);
        zk.create("/acl/ip", b("i"),
            Collections.singletonList(new ACL(Perms.ALL, new Id("ip", "127.0.0.1"))),
            CreateMode.PERSISTENT);
        zk.create("/acl/ipnet", b("n"),
            Collections.singletonList(new ACL(Perms.READ | Perms.ADMIN, new Id("ip", "10.0.0.0/8"))),
            CreateMode.PERSISTENT);
        zk.create("/acl/auth", b("a"), Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
        List<ACL> mixed = new ArrayList<>();
        mixed.add(digestAcl(Perms.READ | Perms.WRITE | Perms.DELETE, "bob:pw"));
        mixed.add(new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE));
        mixed.add(new ACL(Perms.ADMIN | Perms.CREATE, new Id("ip", "127.0.0.1")));
        zk.create("/acl/mixed", b("m"), mixed, CreateMode.PERSISTENT);
        zk.create("/acl/mixed/child", b("c"), mixed, CreateMode.PERSISTENT);

        // Data: ~1 MB (just under jute.maxbuffer with the request around it), 300 KB, null,
        // empty, non-ASCII names and values.
        zk.create("/data", null, OPEN, CreateMode.PERSISTENT);
        zk.create("/data/big", random(1_000_000, 7), OPEN, CreateMode.PERSISTENT);
        zk.create("/data/medium", random(300_000, 8), OPEN, CreateMode.PERSISTENT);
        zk.setData("/data/medium", random(299_999, 9), 0);
        zk.create("/data/null", null, OPEN, CreateMode.PERSISTENT);
        zk.create("/data/empty", new byte[0], OPEN, CreateMode.PERSISTENT);
        zk.create("/data/\u00fcn\u00efc\u00f8d\u00e9", b("\u00e7a \u20ac \ud83d\ude00"), OPEN,
            CreateMode.PERSISTENT);

        // Multi: one that commits, one that fails (logged as an error txn, changes nothing).
        zk.multi(Arrays.asList(
            Op.create("/multi", b("m0"), OPEN, CreateMode.PERSISTENT),
            Op.create("/multi/a", b("a"), OPEN, CreateMode.PERSISTENT),
            Op.setData("/multi", b("m1"), -1),
            Op.delete("/multi/a", -1)));
        try {
            zk.multi(Arrays.asList(
                Op.create("/multi/b", b("b"), OPEN, CreateMode.PERSISTENT),
                Op.delete("/does-not-exist", -1)));
            throw new IllegalStateException("the failing multi succeeded");
        } catch (KeeperException.NoNodeException expected) {
            // rolled back
        }

        // A quota: /zookeeper/quota/app/zookeeper_{limits,stats}.
        StatsTrack quota = new StatsTrack();
        quota.setCount(1000);
        quota.setBytes(-1L);
        SetQuotaCommand.createQuota(zk, "/app", quota);
        zk.create("/app/after-quota", b("q"), OPEN, CreateMode.PERSISTENT);

        // Enough txns for several snapshots and log files at a small snapCount; the last ones
        // land after the last snapshot (the log tail).
        zk.create("/many", null, OPEN, CreateMode.PERSISTENT);
        for (int i = 0; i < 120; i++) {
            zk.create(String.format("/many/n-%03d", i), b("value " + i), OPEN, CreateMode.PERSISTENT);
        }
        for (int i = 0; i < 120; i += 7) {
            zk.setData(String.format("/many/n-%03d", i), b("changed " + i), -1);
        }
        for (int i = 1; i < 120; i += 11) {
            zk.delete(String.format("/many/n-%03d", i), -1);
        }
        zk.setData("/app", b("final " + round), -1);
    }

    static void change(ZooKeeper zk, String round) throws Exception {
        zk.create("/written-by-ferrokeeper", b(round), OPEN, CreateMode.PERSISTENT);
        zk.create("/queue/a/item-", b("after import"), OPEN, CreateMode.PERSISTENT_SEQUENTIAL);
        zk.setData("/app/config", b("after import"), -1);
        zk.setACL("/acl/ip", OPEN, -1);
        zk.delete("/many/n-000", -1);
        zk.create("/ttl-after-", b("t"), OPEN, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL,
            new Stat(), HOUR_MS);
        zk.create("/cont2", null, OPEN, CreateMode.CONTAINER);
        zk.create("/cont2/child", null, OPEN, CreateMode.PERSISTENT);
    }

    // Deletes the children of a container imported or exported as such, then waits (up to 60 s)
    // for the server's container sweep to delete the container itself.
    static void emptyContainer(ZooKeeper zk, String path) throws Exception {
        for (String c : zk.getChildren(path, false)) {
            zk.delete(path + "/" + c, -1);
        }
        long t0 = System.nanoTime();
        CountDownLatch gone = new CountDownLatch(1);
        if (zk.exists(path, e -> {
            if (e.getType() == Watcher.Event.EventType.NodeDeleted) {
                gone.countDown();
            }
        }) == null) {
            gone.countDown();
        }
        if (!gone.await(60, TimeUnit.SECONDS)) {
            throw new IllegalStateException(path + " was emptied but not deleted within 60 s: "
                + "the server does not treat it as a container");
        }
        System.out.println("CONTAINER-DELETED " + path + " after "
            + (System.nanoTime() - t0) / 1_000_000 + " ms");
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder(b.length * 2);
        for (byte x : b) {
            sb.append(String.format("%02x", x & 0xff));
        }
        return sb.toString();
    }

    static void dump(ZooKeeper zk, String file) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        List<String> lines = new ArrayList<>();
        Deque<String> todo = new ArrayDeque<>();
        todo.add("/");
        while (!todo.isEmpty()) {
            String path = todo.poll();
            Stat s = new Stat();
            byte[] data = zk.getData(path, false, s);
            List<ACL> acls = zk.getACL(path, new Stat());
            List<String> a = new ArrayList<>();
            for (ACL acl : acls) {
                a.add(acl.getPerms() + ":" + acl.getId().getScheme() + ":" + acl.getId().getId());
            }
            String d = data == null ? "null" : data.length == 0 ? "empty" : "sha256:" + hex(sha.digest(data));
            lines.add(String.join(" ", path,
                Long.toString(s.getCzxid()), Long.toString(s.getMzxid()),
                Long.toString(s.getCtime()), Long.toString(s.getMtime()),
                Integer.toString(s.getVersion()), Integer.toString(s.getCversion()),
                Integer.toString(s.getAversion()), Long.toHexString(s.getEphemeralOwner()),
                Integer.toString(s.getDataLength()), Integer.toString(s.getNumChildren()),
                Long.toString(s.getPzxid()), d, a.isEmpty() ? "-" : String.join(",", a)));
            for (String c : zk.getChildren(path, false)) {
                todo.add(path.equals("/") ? "/" + c : path + "/" + c);
            }
        }
        Collections.sort(lines);
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(Paths.get(file), StandardCharsets.UTF_8))) {
            for (String l : lines) {
                w.println(l);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: MigrationDriver populate|change|dump <host:port> <dump-file> [round]");
            System.exit(2);
        }
        String mode = args[0];
        String hostPort = args[1];
        String round = args.length > 3 ? args[3] : "";
        switch (mode) {
            case "populate": {
                // A long timeout: the session must outlive stop, import and the next start.
                ZooKeeper zk = connect(hostPort, 300_000, "alice:secret");
                populate(zk, hostPort, round);
                ZooKeeper su = connect(hostPort, 30_000, "super:secret");
                dump(su, args[2]);
                su.close();
                System.out.println("SESSION " + Long.toHexString(zk.getSessionId()));
                System.out.println("READY");
                System.out.flush();
                while (System.in.read() != -1) {
                    // hold the session until the script closes our stdin
                }
                Runtime.getRuntime().halt(0);
                break;
            }
            case "change": {
                ZooKeeper zk = connect(hostPort, 30_000, "alice:secret");
                change(zk, round);
                zk.close();
                ZooKeeper su = connect(hostPort, 30_000, "super:secret");
                dump(su, args[2]);
                su.close();
                break;
            }
            case "empty-container": {
                ZooKeeper su = connect(hostPort, 30_000, "super:secret");
                emptyContainer(su, args[2]);
                su.close();
                break;
            }
            case "snapdigest": {
                // Apache ZooKeeper's own code reads the newest snapshot of a version-2
                // directory and recomputes the tree digest it recorded.
                org.apache.zookeeper.server.DataTree dt = new org.apache.zookeeper.server.DataTree();
                java.util.Map<Long, Integer> sessions = new java.util.HashMap<>();
                long zxid = new org.apache.zookeeper.server.persistence.FileSnap(
                    new java.io.File(args[1])).deserialize(dt, sessions);
                long computed = dt.getTreeDigest();
                // The digest section as recorded (DataTree keeps it only until the first
                // replayed txn): in a plain snapshot it is the 20 bytes before the final seal
                // (i64 Adler32 + "/"): i64 zxid, i32 version, i64 digest.
                java.io.File snap = new java.io.File(args[1], "snapshot." + Long.toHexString(zxid));
                long recZxid;
                int recVersion;
                long recDigest;
                try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(snap, "r")) {
                    f.seek(f.length() - 33);
                    recZxid = f.readLong();
                    recVersion = f.readInt();
                    recDigest = f.readLong();
                }
                System.out.println("zxid=0x" + Long.toHexString(zxid) + " nodes="
                    + dt.getNodeCount() + " sessions=" + sessions.size() + " recorded=0x"
                    + Long.toHexString(recZxid) + "/v" + recVersion + "/" + Long.toHexString(recDigest)
                    + " computed=" + Long.toHexString(computed));
                if (recZxid != zxid || recVersion != 2 || recDigest != computed) {
                    System.exit(1);
                }
                break;
            }
            case "dump": {
                ZooKeeper su = connect(hostPort, 30_000, "super:secret");
                dump(su, args[2]);
                su.close();
                break;
            }
            default:
                System.err.println("unknown mode " + mode);
                System.exit(2);
        }
    }
}
