//! What the operator surface asks the core, and the typed answers. The core answers a
//! [`Query`] from its view as it answers a four-letter word; the AdminServer and the
//! metrics page render the answers (see [`super::figures`]).

use crate::fourlw::{self, CoreView, SessionsDump, WatchesDump};

use super::figures::TreeFigures;

/// A question for the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// Figures of the tree, sessions and watches.
    Figures,
    /// The session expiry queue and the ephemerals (`dump`).
    Sessions,
    /// The data-watch table (`wchc`, `wchp`).
    Watches,
    /// The ACL of `/` (what `snapshot` and `restore` authorize against).
    RootAcl,
}

/// The core's answer to a [`Query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// For [`Query::Figures`].
    Figures(Box<TreeFigures>),
    /// For [`Query::Sessions`].
    Sessions(SessionsDump),
    /// For [`Query::Watches`].
    Watches(WatchesDump),
    /// For [`Query::RootAcl`].
    Acl(Vec<zk_proto::data::Acl>),
}

/// Answers `q` from the core's state.
pub fn answer(q: Query, v: &CoreView<'_>) -> Answer {
    match q {
        Query::Figures => Answer::Figures(Box::new(TreeFigures::of(v))),
        Query::Sessions => Answer::Sessions(fourlw::sessions_dump(v)),
        Query::Watches => Answer::Watches(fourlw::watches_dump(v)),
        Query::RootAcl => Answer::Acl(v.tree.get_acl(b"/").map(|(a, _)| a).unwrap_or_default()),
    }
}
