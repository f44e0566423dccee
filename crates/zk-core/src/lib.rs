//! Request preparation and sessions: the part of a ZooKeeper server that decides.
//!
//! Owns: turning a client request into an idempotent txn against the tree plus the changes
//! already prepared but not yet applied (`PrepRequestProcessor`'s outstanding changes),
//! answering reads from the tree (`FinalRequestProcessor`), authentication schemes and ACL
//! checks, and the session table with tick-bucketed expiry.
//! Does not own: sockets, files, clocks, threads. Time comes in as an argument.
//!
//! ```text
//!   request ──► Prep::prepare(tree, session) ──► TxnHeader + TxnBody ──► log ──► apply
//!   read    ──► read::answer(tree, session) ──► reply + watch registration
//! ```

#![warn(missing_docs)]

pub mod auth;
pub mod prep;
pub mod read;
pub mod sasl;
pub mod session;
