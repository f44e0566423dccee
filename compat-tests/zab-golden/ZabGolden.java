// Byte twin of zk-zab's wire formats, built with Apache ZooKeeper's own classes.
// Compiled and run by crates/zk-zab/tests/java_golden.rs. It lives in ZooKeeper's quorum
// package so it can reach package-private members (FastLeaderElection.buildMsg,
// Learner.request and the Learner's output archive).
//
// stdin, one command per line:
//   CASES                 -> "CASE <name> <hex>" for every packet/notification built here
//   ECHO <name> <hex>     -> reads a QuorumPacket from the bytes (all of them), writes it back:
//                            "ECHO <name> <hex>"
//   TXN <name> <hex>      -> SerializeUtils.deserializeTxn + Util.marshallTxnEntry:
//                            "TXN <name> <hex>"
//   INITIAL <name> <hex>  -> QuorumCnxManager.InitialMessage.parse after the protocol version:
//                            "INITIAL <name> <sid> <addr>|<addr>..." or "INITIAL <name> REJECT"
// then "END".
package org.apache.zookeeper.server.quorum;

import java.io.BufferedOutputStream;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.apache.jute.BinaryInputArchive;
import org.apache.jute.BinaryOutputArchive;
import org.apache.jute.Record;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.proto.CreateRequest;
import org.apache.zookeeper.server.Request;
import org.apache.zookeeper.server.TxnLogEntry;
import org.apache.zookeeper.server.persistence.Util;
import org.apache.zookeeper.server.util.SerializeUtils;
import org.apache.zookeeper.txn.CreateTxn;
import org.apache.zookeeper.txn.SetDataTxn;
import org.apache.zookeeper.txn.TxnDigest;
import org.apache.zookeeper.txn.TxnHeader;

public class ZabGolden {
    static final StringBuilder OUT = new StringBuilder();

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x & 0xff));
        }
        return s.toString();
    }

    static byte[] unhex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    static void emit(String name, byte[] b) {
        OUT.append("CASE ").append(name).append(' ').append(hex(b)).append('\n');
    }

    static byte[] ser(Record r) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        BinaryOutputArchive.getArchive(bos).writeRecord(r, "r");
        return bos.toByteArray();
    }

    static void packet(String name, int type, long zxid, byte[] data) throws Exception {
        emit(name, ser(new QuorumPacket(type, zxid, data, null)));
    }

    static byte[] bb(int cap, java.util.function.Consumer<ByteBuffer> f) {
        byte[] b = new byte[cap];
        f.accept(ByteBuffer.wrap(b));
        return b;
    }

    /** The PROPOSAL data of a create at 0x200000005 with a digest (Util.marshallTxnEntry). */
    static byte[] createProposal() throws Exception {
        TxnHeader hdr = new TxnHeader(0x0100000000000001L, 7, 0x200000005L, 1700000000000L,
                ZooDefs.OpCode.create);
        CreateTxn txn = new CreateTxn("/app", "v1".getBytes(StandardCharsets.UTF_8),
                ZooDefs.Ids.OPEN_ACL_UNSAFE, false, 2);
        return Util.marshallTxnEntry(hdr, txn, new TxnDigest(2, 0x0FEDCBA987654321L));
    }

    /** A reconfig txn without a digest (the INFORMANDACTIVATE payload). */
    static byte[] reconfigProposal() throws Exception {
        TxnHeader hdr = new TxnHeader(0x0100000000000002L, 3, 0x200000006L, 1700000000001L,
                ZooDefs.OpCode.reconfig);
        SetDataTxn txn = new SetDataTxn("/zookeeper/config",
                "server.1=a:2888:3888:participant\nversion=200000006".getBytes(StandardCharsets.UTF_8), -1);
        return Util.marshallTxnEntry(hdr, txn);
    }

    /**
     * Learner.ping's replies, written by a Learner whose server is a real
     * FollowerZooKeeperServer with a LearnerSessionTracker: two sessions touched, then none
     * (the table was swapped by the first ping).
     */
    static byte[][] pingReplies() throws Exception {
        java.io.File dir = java.nio.file.Files.createTempDirectory("zab-golden").toFile();
        org.apache.zookeeper.server.persistence.FileTxnSnapLog logs =
                new org.apache.zookeeper.server.persistence.FileTxnSnapLog(dir, dir);
        QuorumPeer peer = QuorumPeer.testingQuorumPeer();
        peer.setMyid(3);
        FollowerZooKeeperServer zk =
                new FollowerZooKeeperServer(logs, peer, new org.apache.zookeeper.server.ZKDatabase(logs));
        zk.createSessionTracker();
        LearnerSessionTracker tracker = (LearnerSessionTracker) zk.getSessionTracker();
        tracker.commitSession(0x0100000000000001L, 30000);
        tracker.commitSession(0x0300000000000002L, 4000);
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        Learner learner = new Learner();
        learner.zk = zk;
        learner.bufferedOutput = new BufferedOutputStream(bos);
        learner.leaderOs = BinaryOutputArchive.getArchive(learner.bufferedOutput);
        byte[][] out = new byte[2][];
        for (int i = 0; i < 2; i++) {
            learner.ping(new QuorumPacket(Leader.PING, 0x200000005L, null, null));
            learner.bufferedOutput.flush();
            out[i] = bos.toByteArray();
            bos.reset();
        }
        logs.close();
        return out;
    }

    /** Learner.request writes the forwarded request through the learner's archive. */
    static byte[] forwardedRequest() throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        Learner learner = new Learner();
        learner.bufferedOutput = new BufferedOutputStream(bos);
        learner.leaderOs = BinaryOutputArchive.getArchive(learner.bufferedOutput);
        CreateRequest cr = new CreateRequest("/app/child", "data".getBytes(StandardCharsets.UTF_8),
                ZooDefs.Ids.OPEN_ACL_UNSAFE, 1);
        ByteBuffer body = ByteBuffer.wrap(ser(cr));
        List<Id> auth = new ArrayList<>();
        auth.add(new Id("ip", "127.0.0.1"));
        auth.add(new Id("digest", "user:hash="));
        Request req = new Request(null, 0x0100000000000001L, 42, ZooDefs.OpCode.create, body, auth);
        learner.request(req);
        learner.bufferedOutput.flush();
        return bos.toByteArray();
    }

    static void cases() throws Exception {
        LearnerInfo li = new LearnerInfo(3, 0x10000, 0x100000000L);
        emit("learner_info", ser(li));
        // Learner.registerWithLeader: the LearnerInfo record as data, acceptedEpoch << 32.
        packet("followerinfo", Leader.FOLLOWERINFO, 5L << 32, ser(li));
        packet("observerinfo", Leader.OBSERVERINFO, 5L << 32, ser(new LearnerInfo(4, 0x10000, 0)));
        // Leader / LearnerHandler.
        packet("leaderinfo", Leader.LEADERINFO, 6L << 32, bb(4, b -> b.putInt(0x10000)));
        packet("ackepoch", Leader.ACKEPOCH, 0x500000007L, bb(4, b -> b.putInt(5)));
        packet("ackepoch_same_epoch", Leader.ACKEPOCH, 0x600000000L, bb(4, b -> b.putInt(-1)));
        packet("diff", Leader.DIFF, 0x500000009L, null);
        packet("trunc", Leader.TRUNC, 0x500000003L, null);
        packet("snap", Leader.SNAP, 0x50000000aL, null);
        packet("newleader", Leader.NEWLEADER, 6L << 32,
                "server.1=a:2888:3888:participant\nversion=600000000".getBytes(StandardCharsets.UTF_8));
        packet("newleader_null", Leader.NEWLEADER, 6L << 32, null);
        packet("uptodate", Leader.UPTODATE, -1, null);
        packet("ack", Leader.ACK, 0x600000001L, null);
        packet("ack_newleader", Leader.ACK, 6L << 32, null);
        packet("proposal", Leader.PROPOSAL, 0x200000005L, createProposal());
        packet("commit", Leader.COMMIT, 0x200000005L, null);
        packet("inform", Leader.INFORM, 0x200000005L, createProposal());
        packet("commitandactivate", Leader.COMMITANDACTIVATE, 0x200000006L, bb(8, b -> b.putLong(2)));
        // Leader.informAndActivate: designated leader, then the proposal bytes.
        byte[] rc = reconfigProposal();
        ByteBuffer ia = ByteBuffer.allocate(rc.length + 8);
        ia.putLong(2);
        ia.put(rc);
        packet("informandactivate", Leader.INFORMANDACTIVATE, 0x200000006L, ia.array());
        packet("sync", Leader.SYNC, 0, null);
        // LearnerHandler.ping: null data; Learner.ping's reply: {long id; int timeout}*.
        packet("ping", Leader.PING, 0x200000005L, null);
        byte[][] replies = pingReplies();
        emit("ping_reply", replies[0]);
        emit("ping_reply_empty", replies[1]);
        // Learner.validateSession and LearnerHandler's answer.
        ByteArrayOutputStream rv = new ByteArrayOutputStream();
        DataOutputStream rdos = new DataOutputStream(rv);
        rdos.writeLong(0x0100000000000001L);
        rdos.writeInt(30000);
        rdos.close();
        packet("revalidate", Leader.REVALIDATE, -1, rv.toByteArray());
        ByteArrayOutputStream ra = new ByteArrayOutputStream();
        DataOutputStream ados = new DataOutputStream(ra);
        ados.writeLong(0x0100000000000001L);
        ados.writeBoolean(true);
        ados.close();
        packet("revalidate_reply", Leader.REVALIDATE, -1, ra.toByteArray());
        emit("request", forwardedRequest());
        emit("initial_message_v1", initialMessage(false));
        emit("initial_message_v2", initialMessage(true));
        // FastLeaderElection.buildMsg: the current form with config, and the 40-byte form.
        byte[] cfg = "server.1=a:2888:3888:participant\nserver.2=b:2888:3888:participant\nversion=0"
                .getBytes(StandardCharsets.UTF_8);
        emit("notification_v2", FastLeaderElection.buildMsg(0, 3, 0x500000007L, 2, 5, cfg).array());
        emit("notification_v2_following",
                FastLeaderElection.buildMsg(1, 1, 0x600000002L, 7, 6, cfg).array());
        emit("notification_40", FastLeaderElection.buildMsg(2, 2, 0x400000001L, 3, 4).array());
        emit("notification_v2_observer", FastLeaderElection.buildMsg(3, Long.MIN_VALUE,
                Long.MIN_VALUE, 1, Long.MIN_VALUE, new byte[0]).array());
    }

    /**
     * QuorumCnxManager.startConnection's bytes, captured from a socket whose output is a
     * buffer. The remote sid (5) is larger than ours (3), so Java "loses the challenge" and
     * closes the socket right after the message: no worker threads start.
     */
    static byte[] initialMessage(boolean multiAddress) throws Exception {
        java.util.Properties p = new java.util.Properties();
        p.setProperty("server.1", "10.0.0.1:2888:3888");
        p.setProperty("server.3", "10.0.0.3:2888:3888");
        p.setProperty("server.5", "10.0.0.5:2888:3888");
        org.apache.zookeeper.server.quorum.flexible.QuorumMaj qv =
                new org.apache.zookeeper.server.quorum.flexible.QuorumMaj(p);
        QuorumPeer peer = QuorumPeer.testingQuorumPeer();
        peer.setMyid(3);
        peer.setQuorumVerifier(qv, false);
        // A QuorumPeer object defaults to true; QuorumPeerConfig (a real server) sets it from
        // zookeeper.multiAddress.enabled, default false.
        peer.setMultiAddressEnabled(multiAddress);
        QuorumCnxManager m = new QuorumCnxManager(peer, 3, qv.getAllMembers(),
                new org.apache.zookeeper.server.quorum.auth.NullQuorumAuthServer(),
                new org.apache.zookeeper.server.quorum.auth.NullQuorumAuthLearner(), 1000, false, 20, false);
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        java.net.Socket sock = new java.net.Socket() {
            @Override
            public java.io.OutputStream getOutputStream() {
                return bos;
            }

            @Override
            public java.io.InputStream getInputStream() {
                return new ByteArrayInputStream(new byte[0]);
            }

            @Override
            public void close() {
            }
        };
        java.lang.reflect.Method start =
                QuorumCnxManager.class.getDeclaredMethod("startConnection", java.net.Socket.class, Long.class);
        start.setAccessible(true);
        if ((Boolean) start.invoke(m, sock, 5L)) {
            throw new IllegalStateException("startConnection kept the connection");
        }
        m.halt();
        return bos.toByteArray();
    }

    static String initial(byte[] b) {
        try {
            DataInputStream din = new DataInputStream(new ByteArrayInputStream(b));
            long version = din.readLong();
            if (version >= 0) {
                return version + " legacy";
            }
            if (version != QuorumCnxManager.PROTOCOL_VERSION_V1
                    && version != QuorumCnxManager.PROTOCOL_VERSION_V2) {
                return "REJECT";
            }
            QuorumCnxManager.InitialMessage m = QuorumCnxManager.InitialMessage.parse(version, din);
            StringBuilder s = new StringBuilder();
            for (InetSocketAddress a : m.electionAddr) {
                if (s.length() > 0) {
                    s.append('|');
                }
                s.append(a.getHostString()).append(':').append(a.getPort());
            }
            return m.sid + " " + s;
        } catch (Exception e) {
            return "REJECT";
        }
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.trim().split(" ");
            switch (f[0]) {
            case "CASES":
                cases();
                break;
            case "ECHO": {
                byte[] b = unhex(f[2]);
                ByteArrayInputStream bis = new ByteArrayInputStream(b);
                QuorumPacket qp = new QuorumPacket();
                BinaryInputArchive.getArchive(bis).readRecord(qp, "packet");
                if (bis.available() != 0) {
                    throw new IllegalStateException(f[1] + ": " + bis.available() + " bytes left");
                }
                OUT.append("ECHO ").append(f[1]).append(' ').append(hex(ser(qp))).append('\n');
                break;
            }
            case "TXN": {
                TxnLogEntry e = SerializeUtils.deserializeTxn(unhex(f[2]));
                byte[] again = e.getDigest() == null
                        ? Util.marshallTxnEntry(e.getHeader(), e.getTxn())
                        : Util.marshallTxnEntry(e.getHeader(), e.getTxn(), e.getDigest());
                OUT.append("TXN ").append(f[1]).append(' ').append(hex(again)).append('\n');
                break;
            }
            case "INITIAL":
                OUT.append("INITIAL ").append(f[1]).append(' ').append(initial(unhex(f[2]))).append('\n');
                break;
            default:
                throw new IllegalArgumentException("unknown command " + line);
            }
        }
        OUT.append("END\n");
        System.out.print(OUT);
        System.out.flush();
        // QuorumCnxManager's executor threads must not keep the JVM alive.
        System.exit(0);
    }
}
