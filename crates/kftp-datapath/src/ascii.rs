//! TYPE A: line endings converted on the fly. (Placeholder: the datapath work fills this in.)
