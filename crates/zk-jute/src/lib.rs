//! Jute: the serialisation format of Apache ZooKeeper's wire, peer and disk records.
//!
//! This crate owns two things:
//!
//! * the **runtime** every generated record uses ([`Decoder`], the write helpers in
//!   [`encode`], [`JString`], [`Record`]) with Jute's primitive rules: big-endian integers,
//!   one-byte booleans, `i32` length prefixes where `-1` means null, and length limits
//!   (`jute.maxbuffer`) checked *before* anything is allocated;
//! * behind the `codegen` feature, the **`.jute` IDL parser** ([`idl`], written with nom) and
//!   the **Rust generator** ([`codegen`]) that turns `jute-schemas/*.jute` into structs. The
//!   generator runs in `zk-proto`'s build script, so the schemas are the single source.
//!
//! It does not know what a record means (opcodes, error codes, frames): that is `zk-proto`.
//!
//! ```text
//!   jute-schemas/*.jute ──idl::parse──► [Module] ──codegen::generate──► records.rs (OUT_DIR)
//!                                                                         │ uses
//!   bytes on the wire ◄──encode::*── Record ──Decoder──► bytes off the wire ◄┘
//! ```
//!
//! Decoding never panics on hostile input: every read checks what is left, every length is
//! checked against the limit and against the bytes actually present before a buffer or a
//! vector is allocated.

#![warn(missing_docs)]

mod runtime;
pub mod sample;

#[cfg(feature = "codegen")]
pub mod codegen;
#[cfg(feature = "codegen")]
pub mod idl;

pub use bytes;
pub use runtime::{encode, Decoder, Error, JString, Limits, Record, DEFAULT_MAX_BUFFER};
