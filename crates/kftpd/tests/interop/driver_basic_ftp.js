// The basic-ftp (npm) client side of the interop Scenario (see common.rs): run as
//   node driver_basic_ftp.js plain|explicit|implicit PORT USER PASS
// in the scenario's working directory, with NODE_PATH at the project-local node_modules.
// Exits 0 after printing DONE, 1 on the first error (printed on stderr).
"use strict";
const fs = require("fs");
const ftp = require("basic-ftp");

async function main() {
    const [mode, port, user, password] = process.argv.slice(2);
    const client = new ftp.Client(30000);
    client.ftp.verbose = !!process.env.FTP_VERBOSE;
    await client.access({
        host: "127.0.0.1",
        port: Number(port),
        user,
        password,
        secure: mode === "plain" ? false : mode === "explicit" ? true : "implicit",
        // The server's certificate is self-signed.
        secureOptions: { rejectUnauthorized: false },
    });

    for (const f of await client.list("/")) {
        console.log(`LIST ${f.name} ${f.size} ${f.isDirectory ? "d" : "f"}`);
    }
    await client.downloadTo("got.bin", "big.bin");
    await client.uploadFrom("up.bin", "up.bin");

    // Resume the download from the local size: REST, then written at that offset.
    const have = fs.statSync("partial.bin").size;
    await client.downloadTo("partial.bin", "big.bin", have);

    // Resume the interrupted upload from the server's size, with APPE.
    const size = await client.size("resume.bin");
    await client.appendFrom(fs.createReadStream("resume.bin", { start: size }), "resume.bin");

    // The local tree up into /tree-up, and /tree down into tree-down. With
    // SKIP_EMPTY_UPLOADS set, the empty files are left out of the upload (see
    // node_basic_ftp.rs for the client race that makes that necessary over TLS).
    let up = "tree";
    if (process.env.SKIP_EMPTY_UPLOADS) {
        up = "tree-nonempty";
        fs.cpSync("tree", up, {
            recursive: true,
            filter: src => fs.statSync(src).isDirectory() || fs.statSync(src).size > 0,
        });
    }
    await client.ensureDir("/tree-up");
    await client.uploadFromDir(up, "/tree-up");
    await client.downloadToDir("tree-down", "/tree");

    console.log("DONE");
    client.close();
}

main().catch(e => {
    console.error("FAILED:", e);
    process.exit(1);
});
