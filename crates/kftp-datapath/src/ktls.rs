//! Kernel TLS. (Placeholder: the FTPS work fills this in.)
