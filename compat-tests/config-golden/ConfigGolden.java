// Java twin of zk_server::config: runs Apache ZooKeeper's own QuorumPeerConfig (and
// java.util.Properties) on the files crates/zk-server/tests/java_golden.rs writes, and
// prints what they made of them in the line format that test renders our Config in.
//
// stdin, one request per line:
//   LOAD <file>               ->  ENTRY <key> <value> per property (sorted by key), END
//   PARSE <zoo.cfg> <defines> ->  field lines (see parse()), END;  or ERROR <why>, END
// or, as the only request of a fresh JVM started with the case's real -D flags (so every
// static initialiser runs after zoo.cfg was parsed, as at server start):
//   SETTINGS <zoo.cfg>        ->  the settings ZooKeeper's classes read from system
//                                 properties (see settings()), END;  or ERROR <why>, END
// <defines> is a file of key=value lines applied with System.setProperty before parsing
// (the -D arguments). Every printed string is escaped by esc(): printable ASCII other than
// space and backslash as is, every other UTF-16 unit as \\uXXXX.

import java.io.BufferedReader;
import java.io.File;
import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.jute.BinaryInputArchive;
import org.apache.zookeeper.server.EphemeralType;
import org.apache.zookeeper.server.ZooKeeperServer;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;
import org.apache.zookeeper.server.command.FourLetterCommands;
import org.apache.zookeeper.server.persistence.FilePadding;
import org.apache.zookeeper.server.persistence.FileTxnLog;
import org.apache.zookeeper.server.quorum.QuorumPeerConfig;

public class ConfigGolden {

    static final String[] WORDS = {
        "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr",
        "stat", "wchc", "wchp", "wchs", "mntr", "isro", "hash",
    };

    static String esc(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c > 0x20 && c < 0x7f && c != '\\') {
                b.append(c);
            } else {
                b.append(String.format("\\u%04x", (int) c));
            }
        }
        return b.toString();
    }

    static String addr(InetSocketAddress a) {
        return a == null ? "null" : esc(a.getHostString() + ":" + a.getPort());
    }

    static void load(String file) throws Exception {
        Properties p = new Properties();
        try (FileInputStream in = new FileInputStream(file)) {
            p.load(in);
        } catch (IllegalArgumentException e) {
            System.out.println("ERROR " + esc(e.getMessage()));
            return;
        }
        TreeMap<String, String> sorted = new TreeMap<>();
        for (String k : p.stringPropertyNames()) {
            sorted.put(k, p.getProperty(k));
        }
        for (var e : sorted.entrySet()) {
            System.out.println("ENTRY " + esc(e.getKey()) + " " + esc(e.getValue()));
        }
    }

    static void parse(String cfg, String defines) throws Exception {
        Properties saved = (Properties) System.getProperties().clone();
        try {
            for (String line : Files.readAllLines(Paths.get(defines), StandardCharsets.UTF_8)) {
                int eq = line.indexOf('=');
                if (eq > 0) {
                    System.setProperty(line.substring(0, eq), line.substring(eq + 1));
                }
            }
            Properties before = (Properties) System.getProperties().clone();
            QuorumPeerConfig.setStandaloneEnabled(true);
            QuorumPeerConfig.setReconfigEnabled(false);
            QuorumPeerConfig c = new QuorumPeerConfig();
            try {
                c.parse(cfg);
            } catch (Exception e) {
                System.out.println("ERROR " + why(e));
                return;
            }
            System.out.println("dataDir " + esc(c.getDataDir().getPath()));
            System.out.println("dataLogDir " + esc(c.getDataLogDir().getPath()));
            System.out.println("clientPortAddress " + addr(c.getClientPortAddress()));
            System.out.println("secureClientPortAddress " + addr(c.getSecureClientPortAddress()));
            System.out.println("observerMasterPort " + c.getObserverMasterPort());
            System.out.println("tickTime " + c.getTickTime());
            System.out.println("maxClientCnxns " + c.getMaxClientCnxns());
            System.out.println("minSessionTimeout " + c.getMinSessionTimeout());
            System.out.println("maxSessionTimeout " + c.getMaxSessionTimeout());
            System.out.println("clientPortListenBacklog " + c.getClientPortListenBacklog());
            System.out.println("initLimit " + c.getInitLimit());
            System.out.println("syncLimit " + c.getSyncLimit());
            System.out.println("connectToLearnerMasterLimit " + c.getConnectToLearnerMasterLimit());
            System.out.println("electionAlg " + c.getElectionAlg());
            System.out.println("peerType " + c.getPeerType().ordinal());
            System.out.println("serverId " + c.getServerId());
            System.out.println("distributed " + c.isDistributed());
            System.out.println("standaloneEnabled " + QuorumPeerConfig.isStandaloneEnabled());
            System.out.println("reconfigEnabled " + QuorumPeerConfig.isReconfigEnabled());
            System.out.println("snapRetainCount " + c.getSnapRetainCount());
            System.out.println("purgeInterval " + c.getPurgeInterval());
            System.out.println("syncEnabled " + c.getSyncEnabled());
            System.out.println("localSessionsEnabled " + c.areLocalSessionsEnabled());
            System.out.println("localSessionsUpgradingEnabled " + c.isLocalSessionsUpgradingEnabled());
            System.out.println("quorumListenOnAllIPs " + c.getQuorumListenOnAllIPs());
            System.out.println("sslQuorum " + c.isSslQuorum());
            System.out.println("portUnification " + c.shouldUsePortUnification());
            System.out.println("multiAddressEnabled " + c.isMultiAddressEnabled());
            System.out.println("metricsProvider " + esc(c.getMetricsProviderClassName()));
            System.out.println("qv " + esc(c.getQuorumVerifier() == null ? null : c.getQuorumVerifier().toString()));
            System.out.println("lastSeenQv " + esc(c.getLastSeenQuorumVerifier() == null ? null : c.getLastSeenQuorumVerifier().toString()));
            List<String> changed = new ArrayList<>();
            for (String k : System.getProperties().stringPropertyNames()) {
                String v = System.getProperty(k);
                // jdk.* are JVM TLS switches X509Util sets as a side effect.
                if (!v.equals(before.getProperty(k)) && !k.startsWith("jdk.")) {
                    changed.add(k);
                }
            }
            Collections.sort(changed);
            for (String k : changed) {
                System.out.println("sysprop " + esc(k) + " " + esc(System.getProperty(k)));
            }
            FourLetterCommands.resetWhiteList();
            List<String> enabled = new ArrayList<>();
            for (String w : WORDS) {
                if (FourLetterCommands.isEnabled(w)) {
                    enabled.add(w);
                }
            }
            Collections.sort(enabled);
            System.out.println("flw " + String.join(",", enabled));
        } finally {
            System.setProperties(saved);
        }
    }

    static Object field(Class<?> cls, Object obj, String name) throws Exception {
        java.lang.reflect.Field f = cls.getDeclaredField(name);
        f.setAccessible(true);
        return f.get(obj);
    }

    static String why(Throwable t) {
        StringBuilder why = new StringBuilder();
        while (t != null) {
            why.append(t.getClass().getSimpleName()).append(": ").append(t.getMessage()).append(" / ");
            t = t.getCause();
        }
        return esc(why.toString());
    }

    static void settings(String cfg) throws Exception {
        ZooKeeperServer zks;
        try {
            new QuorumPeerConfig().parse(cfg);
            // The constructor builds the AuthenticationHelper, which refuses bad
            // zookeeper.enforce.auth.* settings.
            zks = new ZooKeeperServer();
        } catch (Exception e) {
            System.out.println("ERROR " + why(e));
            return;
        }
        System.out.println("juteMaxBuffer " + BinaryInputArchive.maxBuffer);
        System.out.println("juteMaxBufferExtra " + field(BinaryInputArchive.class, null, "extraMaxBuffer"));
        System.out.println("snapCount " + ZooKeeperServer.getSnapCount());
        System.out.println("snapSizeLimitKb " + ZooKeeperServer.getSnapSizeInBytes() / 1024);
        System.out.println("globalOutstandingLimit " + zks.getGlobalOutstandingLimit());
        System.out.println("extendedTypesEnabled " + EphemeralType.extendedEphemeralTypesEnabled());
        System.out.println("skipACL " + field(ZooKeeperServer.class, null, "skipACL"));
        System.out.println("enforceQuota " + ZooKeeperServer.enforceQuota);
        System.out.println("digestEnabled " + ZooKeeperServer.isDigestEnabled());
        System.out.println("closeSessionTxnEnabled " + ZooKeeperServer.isCloseSessionTxnEnabled());
        System.out.println("digestAuthEnabled " + DigestAuthenticationProvider.isEnabled());
        System.out.println("superDigest " + esc((String) field(DigestAuthenticationProvider.class, null, "superDigest")));
        System.out.println("preAllocSize " + FilePadding.getPreAllocSize());
        System.out.println("fsyncWarningThresholdMs " + field(FileTxnLog.class, null, "fsyncWarningThresholdMS"));
        System.out.println("txnLogSizeLimit " + field(FileTxnLog.class, null, "txnLogSizeLimit"));
        System.out.println("forceSync " + field(FileTxnLog.class, new FileTxnLog(new File(cfg).getParentFile()), "forceSync"));
        Object helper = field(ZooKeeperServer.class, zks, "authHelper");
        System.out.println("enforceAuth " + field(helper.getClass(), helper, "enforceAuthEnabled")
                           + " " + esc(String.valueOf(field(helper.getClass(), helper, "enforceAuthSchemes"))));
        System.out.println("readOnlyMode " + Boolean.getBoolean("readonlymode.enabled"));
        List<String> enabled = new ArrayList<>();
        for (String w : WORDS) {
            if (FourLetterCommands.isEnabled(w)) {
                enabled.add(w);
            }
        }
        Collections.sort(enabled);
        System.out.println("flw " + String.join(",", enabled));
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] parts = line.split(" ");
            if (parts[0].equals("LOAD")) {
                load(parts[1]);
            } else if (parts[0].equals("SETTINGS")) {
                settings(parts[1]);
            } else if (parts[0].equals("PARSE")) {
                parse(parts[1], parts[2]);
            } else {
                throw new IllegalArgumentException("bad request " + line);
            }
            System.out.println("END");
            System.out.flush();
        }
    }
}
