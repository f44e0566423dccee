// Runs Apache ZooKeeper's PathUtils.validatePath over paths given as hex bytes on stdin
// (`<hex> <0|1 sequential>` per line) and prints `<hex> <0|1> <OK | exception message>`.
// With the argument `utf16` it instead prints `<hex> <UTF-16 units of new String(bytes,
// UTF_8), as hex>` for each line, to pin down where Java's decoder ends a malformed sequence.
// The path bytes become a String the way the server's Jute reader makes one
// (new String(bytes, UTF_8)). Output feeds tests/path_golden.rs. Run:
//
//   CP=/usr/share/java/zookeeper.jar
//   javac -cp $CP -d /tmp/golden PathGolden.java && java -cp /tmp/golden:$CP PathGolden < in

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.zookeeper.common.PathUtils;

public class PathGolden {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] parts = line.trim().split(" ");
            String hex = parts[0].equals("-") ? "" : parts[0];
            boolean seq = parts[1].equals("1");
            byte[] b = new byte[hex.length() / 2];
            for (int i = 0; i < b.length; i++) {
                b[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
            }
            String path = new String(b, StandardCharsets.UTF_8);
            if (args.length > 0 && args[0].equals("utf16")) {
                StringBuilder units = new StringBuilder();
                for (int i = 0; i < path.length(); i++) {
                    units.append(String.format("%04x", (int) path.charAt(i)));
                }
                System.out.println(parts[0] + " " + (units.length() == 0 ? "-" : units));
                continue;
            }
            String result = "OK";
            try {
                PathUtils.validatePath(path, seq);
            } catch (IllegalArgumentException e) {
                result = e.getMessage();
            }
            System.out.println(parts[0] + " " + parts[1] + " " + result);
        }
    }
}
