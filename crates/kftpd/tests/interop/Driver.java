// The Commons Net client side of the interop Scenario (see common.rs): run as
//   java -cp commons-net.jar:DIR Driver plain|explicit|implicit PORT USER PASS
// in the scenario's working directory. Exits 0 after printing DONE, non-zero on the first
// refused reply or I/O error (with the reply on stderr).
import java.io.*;
import java.nio.file.*;
import org.apache.commons.net.ftp.*;
import org.apache.commons.net.util.TrustManagerUtils;

public class Driver {
    static FTPClient ftp;

    static void ok(boolean done, String what) throws IOException {
        if (!done) {
            throw new IOException(what + " failed: " + ftp.getReplyString().trim());
        }
    }

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        int port = Integer.parseInt(args[1]);
        if (mode.equals("plain")) {
            ftp = new FTPClient();
        } else {
            FTPSClient s = new FTPSClient("TLS", mode.equals("implicit"));
            // The server's certificate is self-signed: accept it.
            s.setTrustManager(TrustManagerUtils.getAcceptAllTrustManager());
            ftp = s;
        }
        ftp.setConnectTimeout(20000);
        ftp.setDefaultTimeout(30000);
        ftp.setDataTimeout(java.time.Duration.ofSeconds(30));
        ftp.connect("127.0.0.1", port);
        ok(FTPReply.isPositiveCompletion(ftp.getReplyCode()), "greeting");
        ok(ftp.login(args[2], args[3]), "login");
        if (ftp instanceof FTPSClient) {
            FTPSClient s = (FTPSClient) ftp;
            s.execPBSZ(0);
            s.execPROT("P");
            ok(FTPReply.isPositiveCompletion(ftp.getReplyCode()), "PROT P");
        }
        ok(ftp.setFileType(FTP.BINARY_FILE_TYPE), "TYPE I");
        ftp.enterLocalPassiveMode();

        for (FTPFile f : ftp.listFiles("/")) {
            ok(f != null, "parse a LIST line");
            System.out.println("LIST " + f.getName() + " " + f.getSize() + " " + (f.isDirectory() ? "d" : "f"));
        }
        ok(FTPReply.isPositiveCompletion(ftp.getReplyCode()), "LIST");

        try (OutputStream o = new FileOutputStream("got.bin")) {
            ok(ftp.retrieveFile("big.bin", o), "RETR big.bin");
        }
        try (InputStream i = new FileInputStream("up.bin")) {
            ok(ftp.storeFile("up.bin", i), "STOR up.bin");
        }

        // Resume the download from the local size (REST + RETR, appended).
        long have = new File("partial.bin").length();
        ftp.setRestartOffset(have);
        try (OutputStream o = new FileOutputStream("partial.bin", true)) {
            ok(ftp.retrieveFile("big.bin", o), "REST + RETR big.bin");
        }

        // Resume the interrupted upload from the server's size (REST + STOR).
        String size = ftp.getSize("resume.bin");
        ok(size != null, "SIZE resume.bin");
        long off = Long.parseLong(size.trim());
        try (InputStream i = new FileInputStream("resume.bin")) {
            i.skipNBytes(off);
            ftp.setRestartOffset(off);
            ok(ftp.storeFile("resume.bin", i), "REST + STOR resume.bin");
        }

        upload(new File("tree"), "/tree-up");
        download("/tree", new File("tree-down"));

        System.out.println("DONE");
        ok(ftp.logout(), "QUIT");
        ftp.disconnect();
    }

    static void upload(File local, String remote) throws IOException {
        ok(ftp.makeDirectory(remote), "MKD " + remote);
        File[] entries = local.listFiles();
        java.util.Arrays.sort(entries);
        for (File f : entries) {
            String r = remote + "/" + f.getName();
            if (f.isDirectory()) {
                upload(f, r);
            } else {
                try (InputStream i = new FileInputStream(f)) {
                    ok(ftp.storeFile(r, i), "STOR " + r);
                }
            }
        }
    }

    static void download(String remote, File local) throws IOException {
        ok(local.mkdirs(), "mkdir " + local);
        FTPFile[] entries = ftp.listFiles(remote);
        ok(FTPReply.isPositiveCompletion(ftp.getReplyCode()), "LIST " + remote);
        for (FTPFile f : entries) {
            String r = remote + "/" + f.getName();
            if (f.isDirectory()) {
                download(r, new File(local, f.getName()));
            } else {
                try (OutputStream o = new FileOutputStream(new File(local, f.getName()))) {
                    ok(ftp.retrieveFile(r, o), "RETR " + r);
                }
            }
        }
    }
}
