//! outcry: watches public channels for a brand, links what it finds to open complaint cases,
//! and alerts the PR team when a private complaint goes public. ARCHITECTURE.md maps the
//! modules; each pipeline stage is one module here.

pub mod alert;
pub mod assess;
pub mod cases;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod detect;
pub mod extract;
pub mod fetch;
pub mod health;
pub mod http;
pub mod link;
pub mod metrics;
pub mod model;
pub mod normalize;
pub mod pipeline;
pub mod present;
pub mod replay;
pub mod resident;
pub mod retention;
pub mod risk;
pub mod schedule;
pub mod store;
pub mod watch;
