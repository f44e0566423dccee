//! Byte-level path helpers, under the names the tree uses; the implementations are
//! `zk_proto::path`'s (paths are validated by request preparation before they get here).

pub use zk_proto::path::{join, name as name_of, parent as parent_of};
