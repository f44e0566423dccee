//! Shared harness for the zk-server integration tests: zk-testkit's in-process server (with
//! its external mode, `FERROKEEPER_TEST_EXTERNAL`, see `zk_testkit::server`) and its raw-wire
//! client. Each test starts its own server on 127.0.0.1:0 and talks to it only over TCP:
//! through the third-party `zookeeper-client` crate, or through the hand-written Jute of
//! `zk_testkit::wire` when it needs exact bytes.

#![allow(unused_imports)] // every test binary uses a different part

pub use zk_testkit::server::*;
pub use zk_testkit::wire::*;
