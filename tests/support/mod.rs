//! Real peers for integration tests: a feed server, an SMTP server, the daemon binary, and
//! the daemon in-process with a fresh store.
#![allow(dead_code)]

pub mod app;
pub mod daemon;
pub mod feeds;
pub mod smtp;
