//! The Ferrokeeper server shell. For now it holds only the server's configuration; the
//! tokio listeners, connections, peer links and four-letter words will grow here.
//!
//! Owns: reading zoo.cfg and `-D` system properties exactly as Apache ZooKeeper 3.8 does,
//! with its defaults and its refusals, into one typed [`config::Config`]; and the text of
//! the `conf` four-letter word.
//! Does not own (yet): sockets, threads, logging. Parsing returns warnings as values for
//! the binary to log.
//!
//! ```text
//!   argv: -Dk=v ... zoo.cfg ──► config::load ──► Loaded { Config, warnings }
//!                                                   │
//!                         conf word ◄── config::render_conf(&Config, &ConfRuntime)
//! ```

#![warn(missing_docs)]

pub mod config;
