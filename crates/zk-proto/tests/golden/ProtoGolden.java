// Prints the bytes Apache ZooKeeper's own classes produce for the hand-framed records that
// zk-proto's golden tests (tests/golden.rs) compare against. Regenerate with:
//
//   cd crates/zk-proto/tests/golden
//   CP=/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar
//   javac -cp $CP -d /tmp/golden ProtoGolden.java && java -cp /tmp/golden:$CP ProtoGolden
//
// Each line is `name hex`. The values are arbitrary but fixed; the Rust side builds the same.

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Arrays;
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
import org.apache.zookeeper.server.persistence.Util;
import org.apache.zookeeper.txn.CheckVersionTxn;
import org.apache.zookeeper.txn.CloseSessionTxn;
import org.apache.zookeeper.txn.CreateSessionTxn;
import org.apache.zookeeper.txn.CreateTxn;
import org.apache.zookeeper.txn.DeleteTxn;
import org.apache.zookeeper.txn.ErrorTxn;
import org.apache.zookeeper.txn.MultiTxn;
import org.apache.zookeeper.txn.SetDataTxn;
import org.apache.zookeeper.txn.Txn;
import org.apache.zookeeper.txn.TxnDigest;
import org.apache.zookeeper.txn.TxnHeader;

public class ProtoGolden {
    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            sb.append(String.format("%02x", x & 0xff));
        }
        return sb.toString();
    }

    static byte[] ser(Record r) throws IOException {
        ByteArrayOutputStream baos = new ByteArrayOutputStream();
        r.serialize(BinaryOutputArchive.getArchive(baos), "r");
        return baos.toByteArray();
    }

    static void out(String name, byte[] b) {
        System.out.println(name + " " + hex(b));
    }

    static Stat stat(long base) {
        return new Stat(base, base + 1, base + 2, base + 3, 4, 5, 6, base + 7, 8, 9, base + 10);
    }

    public static void main(String[] args) throws Exception {
        List<ACL> acl = Arrays.asList(new ACL(31, new Id("world", "anyone")));

        // Txn log entries (Util.marshallTxnEntry is what FileTxnLog and proposals write).
        TxnHeader h1 = new TxnHeader(0x1234L, 7, 0x100000002L, 1700000000000L, ZooDefs.OpCode.create);
        out("txn_create_digest", Util.marshallTxnEntry(h1,
            new CreateTxn("/a", "xy".getBytes(), acl, true, 3), new TxnDigest(2, 0x0102030405060708L)));

        TxnHeader h2 = new TxnHeader(0x55L, 9, 0x100000003L, 1700000000001L, ZooDefs.OpCode.multi);
        MultiTxn mt = new MultiTxn(Arrays.asList(
            new Txn(ZooDefs.OpCode.create2, ser(new CreateTxn("/m", null, acl, false, 1))),
            new Txn(ZooDefs.OpCode.setData, ser(new SetDataTxn("/b", "d".getBytes(), 4))),
            new Txn(ZooDefs.OpCode.check, ser(new CheckVersionTxn("/c", 1))),
            new Txn(ZooDefs.OpCode.delete, ser(new DeleteTxn("/d"))),
            new Txn(ZooDefs.OpCode.error, ser(new ErrorTxn(-101)))));
        out("txn_multi", Util.marshallTxnEntry(h2, mt, null));

        TxnHeader h3 = new TxnHeader(0x66L, 10, 0x100000004L, 1700000000002L, ZooDefs.OpCode.closeSession);
        out("txn_close_digest", Util.marshallTxnEntry(h3,
            new CloseSessionTxn(Arrays.asList("/e1", "/e2")), new TxnDigest(2, -5L)));

        TxnHeader h4 = new TxnHeader(0x77L, 0, 0x100000005L, 1700000000003L, ZooDefs.OpCode.createSession);
        out("txn_create_session", Util.marshallTxnEntry(h4, new CreateSessionTxn(30000), null));

        // Multi requests (MultiOperationRecord) and responses (MultiResponse).
        MultiOperationRecord write = new MultiOperationRecord(Arrays.asList(
            Op.create("/a", "v".getBytes(), acl, CreateMode.PERSISTENT),
            Op.create("/b", null, acl, CreateMode.EPHEMERAL_SEQUENTIAL),
            Op.create("/c", new byte[0], acl, CreateMode.CONTAINER),
            Op.create("/t", "t".getBytes(), acl, CreateMode.PERSISTENT_WITH_TTL, 1000L),
            Op.delete("/d", -1),
            Op.setData("/e", "z".getBytes(), 3),
            Op.check("/f", 5)));
        out("multi_write", ser(write));

        MultiOperationRecord read = new MultiOperationRecord(Arrays.asList(
            Op.getData("/x"), Op.getChildren("/y")));
        out("multi_read", ser(read));

        out("multi_empty", ser(new MultiOperationRecord()));

        MultiResponse rsp = new MultiResponse();
        rsp.add(new OpResult.CreateResult("/a"));
        rsp.add(new OpResult.CreateResult("/b0000000001", stat(100)));
        rsp.add(new OpResult.DeleteResult());
        rsp.add(new OpResult.SetDataResult(stat(200)));
        rsp.add(new OpResult.CheckResult());
        rsp.add(new OpResult.GetDataResult("q".getBytes(), stat(300)));
        rsp.add(new OpResult.GetChildrenResult(Arrays.asList("k1", "k2")));
        rsp.add(new OpResult.ErrorResult(-101));
        out("multi_response", ser(rsp));

        MultiResponse failed = new MultiResponse();
        failed.add(new OpResult.ErrorResult(0));
        failed.add(new OpResult.ErrorResult(-110));
        failed.add(new OpResult.ErrorResult(-2));
        out("multi_response_failed", ser(failed));
    }
}
