// Java twin of zk_jute::sample: encodes Apache ZooKeeper's own Jute classes with the same
// deterministic values our Rust records draw, so crates/zk-proto/tests/java_golden.rs can
// compare bytes in both directions.
//
// stdin, one request per line:
//   <java class name> <seed> <nulls 0|1>  ->  <class> <seed> <nulls> <hex>   (or MISSING <class>)
//   CASES                                 ->  CASE <name> <hex>, hand-written records, then END
//   MULTI                                 ->  MULTI <name> <hex>, multi frames, then END
//
// Drawing rules (must match crates/zk-jute/src/sample.rs exactly): fields in constructor
// order; int/long/byte one draw truncated; boolean one draw, low bit; buffer/ustring/vector
// [null draw when nulls are on: null if % 4 == 0], a length draw (% 6 bytes, % 4 chars,
// % 3 elements), then one draw per byte/char/element; vector elements are never null.

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.apache.jute.BinaryOutputArchive;
import org.apache.jute.Record;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.MultiOperationRecord;
import org.apache.zookeeper.MultiResponse;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.proto.ConnectRequest;
import org.apache.zookeeper.proto.ConnectResponse;
import org.apache.zookeeper.proto.WatcherEvent;
import org.apache.zookeeper.server.persistence.FileHeader;
import org.apache.zookeeper.server.persistence.FileSnap;
import org.apache.zookeeper.server.persistence.FileTxnLog;
import org.apache.zookeeper.server.quorum.LearnerInfo;
import org.apache.zookeeper.server.quorum.QuorumPacket;
import org.apache.zookeeper.txn.CreateTxn;
import org.apache.zookeeper.txn.TxnDigest;
import org.apache.zookeeper.txn.TxnHeader;

public class JuteGolden {

    static final char[] ALPHABET = {'a', 'Z', '/', '\u00e9', '\u65e5', '0'};

    // splitmix64, bit for bit the same as SampleRng::next_u64.
    static final class Rng {
        long state;
        final boolean nulls;

        Rng(long seed, boolean nulls) {
            this.state = seed;
            this.nulls = nulls;
        }

        long next() {
            state += 0x9E3779B97F4A7C15L;
            long z = state;
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }

        long below(long n) {
            return Long.remainderUnsigned(next(), n);
        }

        boolean isNull() {
            return nulls && below(4) == 0;
        }
    }

    // A value of type t; `nullable` is false for vector elements.
    static Object sample(Type t, Rng rng, boolean nullable) throws Exception {
        if (t == int.class) {
            return (int) rng.next();
        } else if (t == long.class) {
            return rng.next();
        } else if (t == byte.class) {
            return (byte) rng.next();
        } else if (t == boolean.class) {
            return (rng.next() & 1) == 1;
        } else if (t == byte[].class) {
            if (nullable && rng.isNull()) {
                return null;
            }
            byte[] b = new byte[(int) rng.below(6)];
            for (int i = 0; i < b.length; i++) {
                b[i] = (byte) rng.next();
            }
            return b;
        } else if (t == String.class) {
            if (nullable && rng.isNull()) {
                return null;
            }
            char[] c = new char[(int) rng.below(4)];
            for (int i = 0; i < c.length; i++) {
                c[i] = ALPHABET[(int) rng.below(ALPHABET.length)];
            }
            return new String(c);
        } else if (t instanceof ParameterizedType && ((ParameterizedType) t).getRawType() == List.class) {
            if (nullable && rng.isNull()) {
                return null;
            }
            Type elem = ((ParameterizedType) t).getActualTypeArguments()[0];
            int n = (int) rng.below(3);
            List<Object> list = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                list.add(sample(elem, rng, false));
            }
            return list;
        } else if (t instanceof Class && Record.class.isAssignableFrom((Class<?>) t)) {
            return sampleRecord((Class<?>) t, rng);
        }
        throw new IllegalArgumentException("unsupported Jute type " + t);
    }

    // Fills the all-fields constructor (the one with the most parameters) in order.
    static Record sampleRecord(Class<?> cls, Rng rng) throws Exception {
        Constructor<?> all = null;
        for (Constructor<?> c : cls.getConstructors()) {
            if (all == null || c.getParameterCount() > all.getParameterCount()) {
                all = c;
            }
        }
        Type[] types = all.getGenericParameterTypes();
        Object[] args = new Object[types.length];
        for (int i = 0; i < types.length; i++) {
            args[i] = sample(types[i], rng, true);
        }
        return (Record) all.newInstance(args);
    }

    // ZooKeeper 3.8 and older have no readOnly field in ConnectRequest/ConnectResponse: the
    // client (ClientCnxn) and the server (ZooKeeperServer) write the byte after the record.
    // Reproduce that wire form so the bytes match the 3.9+ schema we implement.
    static boolean lacksReadOnly(Class<?> cls) {
        if (cls != ConnectRequest.class && cls != ConnectResponse.class) {
            return false;
        }
        try {
            cls.getMethod("getReadOnly");
            return false;
        } catch (NoSuchMethodException e) {
            return true;
        }
    }

    static byte[] wire(Record r, Boolean trailingReadOnly) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        BinaryOutputArchive oa = BinaryOutputArchive.getArchive(out);
        r.serialize(oa, "r");
        if (trailingReadOnly != null) {
            oa.writeBool(trailingReadOnly, "readOnly");
        }
        return out.toByteArray();
    }

    static byte[] concat(Record... records) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        BinaryOutputArchive oa = BinaryOutputArchive.getArchive(out);
        for (Record r : records) {
            r.serialize(oa, "r");
        }
        return out.toByteArray();
    }

    static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] password() {
        byte[] p = new byte[16];
        for (int i = 0; i < p.length; i++) {
            p[i] = (byte) (0xA0 + i);
        }
        return p;
    }

    static Stat stat(long base) {
        return new Stat(base, base + 1, 1_700_000_000_000L, 1_700_000_000_500L, 3, 4, 5, 0x0123456789ABCDEFL,
                6, 7, base + 2);
    }

    static void cases(PrintStream out) throws Exception {
        // ConnectRequest / ConnectResponse: the full wire form (45 / 37 bytes). Built with
        // setters, since the all-fields constructor gained readOnly in 3.9.
        ConnectRequest creq = new ConnectRequest();
        creq.setProtocolVersion(0);
        creq.setLastZxidSeen(0x100000002L);
        creq.setTimeOut(30000);
        creq.setSessionId(0x1122334455667788L);
        creq.setPasswd(password());
        out.println("CASE connect_request " + hex(connectWire(creq, false)));
        out.println("CASE connect_request_ro " + hex(connectWire(creq, true)));
        ConnectResponse cresp = new ConnectResponse();
        cresp.setProtocolVersion(0);
        cresp.setTimeOut(20000);
        cresp.setSessionId(0x0100000000000001L);
        cresp.setPasswd(password());
        out.println("CASE connect_response " + hex(connectWire(cresp, false)));
        out.println("CASE watcher_event "
                + hex(wire(new WatcherEvent(3 /* NodeDataChanged */, 3 /* SyncConnected */, "/app/node"), null)));
        TxnHeader hdr = new TxnHeader(0x0100000000000001L, 7, 0x200000005L, 1_700_000_000_000L, ZooDefs.OpCode.create);
        CreateTxn body = new CreateTxn("/app", bytes("v1"), ZooDefs.Ids.OPEN_ACL_UNSAFE, false, 2);
        out.println("CASE txn_entry " + hex(concat(hdr, body, new TxnDigest(2, 0x0FEDCBA987654321L))));
        out.println("CASE quorum_ping " + hex(wire(new QuorumPacket(5 /* Leader.PING */, 0x300000000L, null, null), null)));
        out.println("CASE learner_info " + hex(wire(new LearnerInfo(3, 0x10000, 0x100000000L), null)));
        out.println("CASE file_header_log " + hex(wire(new FileHeader(FileTxnLog.TXNLOG_MAGIC, 2, 0), null)));
        out.println("CASE file_header_snap " + hex(wire(new FileHeader(FileSnap.SNAP_MAGIC, 2, 0), null)));
    }

    // The record plus the readOnly byte, whichever ZooKeeper version the classes come from.
    static byte[] connectWire(Record r, boolean readOnly) throws Exception {
        if (lacksReadOnly(r.getClass())) {
            return wire(r, readOnly);
        }
        r.getClass().getMethod("setReadOnly", boolean.class).invoke(r, readOnly);
        return wire(r, null);
    }

    static void multi(PrintStream out) throws Exception {
        List<ACL> creator = Arrays.asList(new ACL(ZooDefs.Perms.ALL, new Id("digest", "u:h")));
        MultiOperationRecord write = new MultiOperationRecord(Arrays.asList(
                Op.create("/a", bytes("data"), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.create("/a/seq-", new byte[0], creator, CreateMode.EPHEMERAL_SEQUENTIAL),
                Op.create("/c", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.CONTAINER),
                Op.create("/t", bytes("x"), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_WITH_TTL, 5000),
                Op.delete("/b", 3),
                Op.setData("/a", bytes("new"), -1),
                Op.check("/a", 1)));
        out.println("MULTI request_write " + hex(wire(write, null)));
        MultiOperationRecord read = new MultiOperationRecord(Arrays.asList(Op.getData("/a"), Op.getChildren("/")));
        out.println("MULTI request_read " + hex(wire(read, null)));
        out.println("MULTI request_empty " + hex(wire(new MultiOperationRecord(), null)));

        MultiResponse ok = new MultiResponse();
        ok.add(new OpResult.CreateResult("/a"));
        ok.add(new OpResult.CreateResult("/a/seq-0000000001", stat(0x200000001L)));
        ok.add(new OpResult.DeleteResult());
        ok.add(new OpResult.SetDataResult(stat(0x200000002L)));
        ok.add(new OpResult.CheckResult());
        out.println("MULTI response_ok " + hex(wire(ok, null)));
        // A multi whose third op failed with NONODE: earlier ops 0, later ops RUNTIMEINCONSISTENCY.
        MultiResponse failed = new MultiResponse();
        failed.add(new OpResult.ErrorResult(0));
        failed.add(new OpResult.ErrorResult(0));
        failed.add(new OpResult.ErrorResult(-101));
        failed.add(new OpResult.ErrorResult(-2));
        failed.add(new OpResult.ErrorResult(-2));
        out.println("MULTI response_failed " + hex(wire(failed, null)));
        MultiResponse readRes = new MultiResponse();
        readRes.add(new OpResult.GetDataResult(bytes("data"), stat(0x200000003L)));
        readRes.add(new OpResult.GetChildrenResult(Arrays.asList("a", "zookeeper")));
        readRes.add(new OpResult.ErrorResult(-101));
        out.println("MULTI response_read " + hex(wire(readRes, null)));
        out.println("MULTI response_empty " + hex(wire(new MultiResponse(), null)));
    }

    public static void main(String[] argv) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        String line;
        while ((line = in.readLine()) != null) {
            line = line.trim();
            if (line.isEmpty()) {
                continue;
            } else if (line.equals("CASES")) {
                cases(out);
                out.println("END");
                continue;
            } else if (line.equals("MULTI")) {
                multi(out);
                out.println("END");
                continue;
            }
            String[] f = line.split(" ");
            Class<?> cls;
            try {
                cls = Class.forName(f[0]);
            } catch (ClassNotFoundException e) {
                out.println("MISSING " + f[0]);
                continue;
            }
            Rng rng = new Rng(Long.parseUnsignedLong(f[1]), f[2].equals("1"));
            Record r = sampleRecord(cls, rng);
            Boolean trailer = lacksReadOnly(cls) ? (Boolean) sample(boolean.class, rng, false) : null;
            out.println(f[0] + " " + f[1] + " " + f[2] + " " + hex(wire(r, trailer)));
        }
        out.flush();
    }
}
