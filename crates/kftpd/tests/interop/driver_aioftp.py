# The aioftp (PyPI) client side of the interop Scenario (see common.rs): run as
#   python3 driver_aioftp.py plain|explicit|implicit PORT USER PASS
# in the scenario's working directory, with PYTHONPATH at the project-local install.
# Exits 0 after printing DONE, 1 on the first error (printed on stderr).
import asyncio
import os
import ssl
import sys

import aioftp
from aioftp.client import DataConnectionThrottleStreamIO
from aioftp.common import SSLSessionBoundContext, async_enterable


class CommandFirst(aioftp.Client):
    """aioftp with one change: a protected data connection's TLS handshake comes after the
    transfer command, as RFC 4217 orders it, not at connect time.

    aioftp (0.28) opens its data connection with TLS and waits for the handshake before it
    sends RETR/STOR/MLSD. Servers that accept and handshake a data connection only once the
    command has come (kftpd, vsftpd, proftpd, pure-ftpd) never answer that ClientHello, and
    both sides wait until aioftp times out (jlaffaye/ftp had the same fault, its #282; aioftp's
    own #186/#187 threads report that timeout). Everything else is aioftp's own code: the
    data connection still resumes the control connection's TLS session, as aioftp does.
    """

    async def _open_connection(self, host, port):
        if self._stream is None:  # the control connection: as aioftp opens it
            return await super()._open_connection(host, port)
        return await asyncio.wait_for(asyncio.open_connection(host, port), self.connection_timeout)

    @async_enterable
    async def get_stream(self, command=None, expected_codes=(), wait_codes=(),
                         censor_after=None, conn_type="I", offset=0):
        reader, writer = await self.get_passive_connection(conn_type)
        if offset:
            await self.command("REST " + str(offset), "350")
        await self.command(command, expected_codes, wait_codes, censor_after)
        ctl = self._stream.writer.transport.get_extra_info("ssl_object")
        if ctl is not None:
            ctx = SSLSessionBoundContext(ssl.PROTOCOL_TLS_CLIENT, context=ctl.context, session=ctl.session)
            await writer.start_tls(ctx, server_hostname=self.server_host)
        return DataConnectionThrottleStreamIO(
            self, reader, writer, throttles={"_": self.throttle}, timeout=self.socket_timeout,
        )


async def main():
    mode, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    # The server's certificate is self-signed.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    # Implicit: TLS from the first byte on every connection; aioftp sends no PROT P then
    # (the data connections are TLS because the control one is) and wraps every data
    # connection with the control connection's session.
    client = (CommandFirst if mode != "plain" else aioftp.Client)(
        ssl=ctx if mode == "implicit" else None,
        socket_timeout=30,
        connection_timeout=20,
        path_timeout=30,
    )
    await client.connect("127.0.0.1", port)
    if mode == "explicit":
        # AUTH TLS, then PBSZ 0 + PROT P.
        await client.upgrade_to_tls(ctx)
    await client.login(user, password)

    for path, info in await client.list("/"):
        kind = "d" if info["type"] == "dir" else "f"
        print("LIST %s %s %s" % (path.name, info.get("size", "0"), kind), flush=True)

    await client.download("big.bin", "got.bin", write_into=True)
    await client.upload("up.bin", "up.bin", write_into=True)

    # Resume the download from the local size (REST + RETR), appended.
    have = os.path.getsize("partial.bin")
    with open("partial.bin", "ab") as f:
        async with client.download_stream("big.bin", offset=have) as stream:
            async for block in stream.iter_by_block():
                f.write(block)

    # Resume the interrupted upload from the server's SIZE (REST + STOR).
    code, info = await client.command("SIZE resume.bin", "213")
    size = int(info[0].strip())
    with open("resume.bin", "rb") as f:
        f.seek(size)
        async with client.upload_stream("resume.bin", offset=size) as stream:
            while True:
                block = f.read(1 << 16)
                if not block:
                    break
                await stream.write(block)

    # The local tree up into /tree-up, and /tree down into tree-down.
    await client.upload("tree", "/tree-up", write_into=True)
    await client.download("/tree", "tree-down", write_into=True)

    print("DONE", flush=True)
    await client.quit()


try:
    asyncio.run(main())
except Exception as e:
    print("FAILED: %s: %s" % (type(e).__name__, e), file=sys.stderr)
    raise SystemExit(1)
