//! Listings in MODE E. GridFTP servers send LIST, NLST and MLSD over the session's MODE E
//! streams like a file, and `globus-url-copy -fast` (MODE E for every data transfer, the
//! streams kept between them) lists a directory that way before copying its files. The
//! listing's lines come as a stream of chunks while the directory is read; here they go
//! into an anonymous memory file (memfd), which the RETR path then sends as blocks from
//! offset 0, by sendfile where it can: one send path for files and listings.
//!
//! The memory is bounded by [`MAX_LISTING`] per listing (so by that times the sessions the
//! limits allow, all at once): a bigger listing fails (`451` from the transfer) instead of
//! growing without limit; MODE S streams any size.

use crate::transfer::job::ListingBody;
use futures::StreamExt;
use std::fs::File;
use std::io::{self, Write};

/// The largest listing sent in MODE E (about 100,000 MLSD lines).
pub const MAX_LISTING: u64 = 16 << 20;

/// The listing, rendered into a memory file, and its length.
pub async fn render(body: &mut ListingBody) -> io::Result<(File, u64)> {
    let fd = rustix::fs::memfd_create("kftpd-listing", rustix::fs::MemfdFlags::CLOEXEC)?;
    let mut file = File::from(fd);
    let mut len = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        len += chunk.len() as u64;
        if len > MAX_LISTING {
            return Err(io::Error::other(format!(
                "the listing is longer than {} MiB, the most MODE E sends; list in MODE S",
                MAX_LISTING >> 20
            )));
        }
        // A memory file: the write is a copy into its pages, no I/O to wait for.
        file.write_all(&chunk)?;
    }
    Ok((file, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek};

    fn body(chunks: Vec<Vec<u8>>) -> ListingBody {
        futures::stream::iter(chunks.into_iter().map(Ok)).boxed()
    }

    #[tokio::test]
    async fn a_listing_lands_whole_in_the_memory_file() {
        let mut b = body(vec![
            b"type=dir; a\r\n".to_vec(),
            b"type=file; b\r\n".to_vec(),
        ]);
        let (mut f, len) = render(&mut b).await.unwrap();
        assert_eq!(len, 27);
        let mut s = String::new();
        f.rewind().unwrap();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, "type=dir; a\r\ntype=file; b\r\n");
        let (_, empty) = render(&mut body(Vec::new())).await.unwrap();
        assert_eq!(empty, 0);
    }

    #[tokio::test]
    async fn a_listing_over_the_bound_fails_instead_of_growing() {
        let chunk = vec![b'x'; 1 << 20];
        let n = (MAX_LISTING >> 20) as usize + 1;
        let e = render(&mut body(vec![chunk; n])).await.unwrap_err();
        assert!(e.to_string().contains("MODE S"), "{e}");
    }
}
