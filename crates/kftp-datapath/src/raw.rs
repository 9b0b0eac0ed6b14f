//! Raw loops for measuring the ceiling. (Placeholder: the datapath work fills this in.)
