import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;

/**
 * One security check with Apache ZooKeeper's Java client against a server. TLS and SASL
 * are configured the way users configure them: system properties given on the command line
 * (zookeeper.client.secure, zookeeper.ssl.*, java.security.auth.login.config).
 *
 *   SecurityCompat HOST:PORT NAME EXPECT
 *
 * EXPECT is one of
 *   x509:SUBJECT  the session holds x509:SUBJECT; a node with that ACL is readable
 *   sasl:USER     SASL succeeds (SaslAuthenticated) and the session holds sasl:USER
 *   plain         connected; no x509 and no sasl identity
 *   authfailed    the server refuses the SASL credentials (AuthFailed event)
 *
 * Prints PASS/FAIL lines; exits 0 only when every check passed. Every wait is bounded.
 */
public final class SecurityCompat {
    private static int failures = 0;

    private static void check(String name, boolean ok, String detail) {
        if (ok) {
            System.out.println("PASS " + name);
        } else {
            failures++;
            System.out.println("FAIL " + name + ": " + detail);
        }
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0];
        String name = args[1];
        String expect = args[2];
        LinkedBlockingQueue<KeeperState> states = new LinkedBlockingQueue<>();
        ZooKeeper zk = new ZooKeeper(connect, 15000, (WatchedEvent e) -> {
            if (e.getType() == org.apache.zookeeper.Watcher.Event.EventType.None) {
                states.add(e.getState());
            }
        });
        try {
            run(zk, states, name, expect);
        } finally {
            zk.close(5000);
        }
        System.exit(failures == 0 ? 0 : 1);
    }

    /** The next connection state, or null after 20 s. */
    private static KeeperState next(LinkedBlockingQueue<KeeperState> states) throws InterruptedException {
        return states.poll(20, TimeUnit.SECONDS);
    }

    private static void run(ZooKeeper zk, LinkedBlockingQueue<KeeperState> states, String name, String expect)
            throws Exception {
        KeeperState s = next(states);
        if (expect.equals("authfailed")) {
            // SyncConnected first, then the SASL outcome.
            while (s == KeeperState.SyncConnected) {
                s = next(states);
            }
            check(name + ": wrong SASL password is refused", s == KeeperState.AuthFailed, "state " + s);
            return;
        }
        check(name + ": connected", s == KeeperState.SyncConnected, "state " + s);
        if (s != KeeperState.SyncConnected) {
            return;
        }
        if (expect.startsWith("sasl:")) {
            KeeperState t = next(states);
            check(name + ": SASL authenticated", t == KeeperState.SaslAuthenticated, "state " + t);
        }
        List<String> ids = new ArrayList<>();
        for (ClientInfo ci : zk.whoAmI()) {
            ids.add(ci.getAuthScheme() + ":" + ci.getUser());
        }
        System.out.println("    whoAmI " + ids);
        String path = "/security-compat-" + name + "-" + System.nanoTime();
        List<ACL> acl = ZooDefs.Ids.OPEN_ACL_UNSAFE;
        if (expect.startsWith("x509:") || expect.startsWith("sasl:")) {
            check(name + ": identity " + expect, ids.contains(expect), "whoAmI " + ids);
            String scheme = expect.substring(0, 4);
            acl = Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id(scheme, expect.substring(5))));
        } else {
            boolean none = ids.stream().noneMatch(i -> i.startsWith("x509:") || i.startsWith("sasl:"));
            check(name + ": no x509/sasl identity", none, "whoAmI " + ids);
        }
        zk.create(path, name.getBytes(StandardCharsets.UTF_8), acl, CreateMode.PERSISTENT);
        byte[] data = zk.getData(path, false, null);
        check(name + ": create and read under " + acl.get(0).getId(),
              new String(data, StandardCharsets.UTF_8).equals(name), "read back " + new String(data, StandardCharsets.UTF_8));
        zk.delete(path, -1);
    }
}
