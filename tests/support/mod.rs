//! Real peers for integration tests: a feed server, an SMTP server, and the daemon binary.
#![allow(dead_code)]

pub mod daemon;
pub mod feeds;
pub mod postgres;
pub mod smtp;
