//! Test support shared by Ferrokeeper's test suites. A **dev-dependency only**: nothing that
//! ships may depend on this crate (it starts servers, writes throwaway certificates, panics
//! on failure, and reads environment variables meant for test runs).
//!
//! * [`java`]: compiles a small Java program from `compat-tests/` against Apache ZooKeeper's
//!   jars (Debian's `/usr/share/java`, or `$FERROKEEPER_ZK_JARS`) and runs it, with the loud
//!   skip (or, under `FERROKEEPER_REQUIRE_JAVA=1`, the failure) when no JDK is installed.
//!   Needs no feature.
//! * [`cluster`]: real ensembles of Apache ZooKeeper and Ferrokeeper processes, each node in
//!   a network namespace of its own, to kill, pause, restart and partition. Needs no feature.
//! * [`history`]: the checker of histories recorded by clients during the ensemble fault
//!   tests (acknowledged writes survive, linearizable writes and sync-then-read, sessions
//!   never go back in time, nodes converge). Needs no feature.
//!
//! With the `server` feature:
//!
//! * [`server`]: an in-process Ferrokeeper on `127.0.0.1:0` ([`server::ServerBuilder`]), on
//!   the test's runtime or on a thread of its own, with plain, TLS or unified listeners and a
//!   real or manual clock; plus the "external server" mode of the zk-server suites.
//! * [`wire`]: a raw client that writes and reads Jute by hand, over TCP or TLS. It uses
//!   nothing from Ferrokeeper's own codec, so a codec bug cannot hide itself.
//! * [`recorder`]: clients that record a [`history`] while a test breaks the servers.
//! * [`tls`]: a test certificate authority (rcgen) issuing server and client certificates.
//!
//! **Room for an ensemble.** A test ensemble (several in-process nodes wired to each other,
//! with a partitionable network between them) belongs in a module `ensemble` here, next to
//! [`server`], built from the same [`server::ServerBuilder`] pieces once zk-server can start a
//! quorum member.

#![warn(missing_docs)]

pub mod cluster;
pub mod history;
pub mod java;

#[cfg(feature = "server")]
pub mod recorder;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod tls;
#[cfg(feature = "server")]
pub mod wire;

#[cfg(feature = "server")]
pub use wire::{within, WAIT};
