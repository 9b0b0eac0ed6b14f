//! What a transfer moves ([`Job`]) and the TLS of its data connection ([`DataTls`]): plain
//! data shared by the stream-mode mover ([`super`]) and MODE E ([`crate::modee`]), kept
//! apart from both so neither imports the other's types through a loop.

use crate::storage::{ReadHandle, Storage, Upload};
use kftp_tls::{Lineage, Reuse, ServerTls};
use std::io;
use std::sync::Arc;

/// What to move.
pub enum Job {
    /// RETR: file -> client.
    Send {
        /// The open file.
        handle: ReadHandle,
        /// REST offset.
        offset: u64,
        /// TYPE A.
        ascii: bool,
    },
    /// STOR/APPE/STOU: client -> file.
    Receive {
        /// The upload target.
        upload: Upload,
        /// TYPE A.
        ascii: bool,
        /// Where to commit.
        storage: Arc<dyn Storage>,
    },
    /// LIST/NLST/MLSD: rendered lines, produced as the directory is read.
    Listing(ListingBody),
}

/// The rendered lines of a listing, in chunks.
pub type ListingBody = futures::stream::BoxStream<'static, io::Result<Vec<u8>>>;

/// TLS for a `PROT P` data connection.
pub struct DataTls {
    /// Certificates and the shared config.
    pub server: Arc<ServerTls>,
    /// The control connection's lineage: its tickets and session cache serve the data
    /// connections, so a client that can resume does.
    pub lineage: Option<Arc<Lineage>>,
    /// The data connection must resume that lineage (522 otherwise).
    pub require_reuse: bool,
}

impl DataTls {
    /// Whether a data connection must resume the control connection's session.
    pub fn reuse(&self) -> Reuse<'_> {
        match (self.require_reuse, self.lineage.as_deref()) {
            (true, Some(l)) => Reuse::Required(l),
            (_, l) => Reuse::Optional(l),
        }
    }
}
