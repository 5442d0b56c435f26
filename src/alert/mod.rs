//! The alert stage: what an alert says (render), how it travels (mailer), the worker that
//! takes alerts from the outbox and delivers them exactly once (outbox), and the daily digest
//! that goes through the same outbox (digest).

pub mod chat;
pub mod digest;
pub mod mailer;
pub mod outbox;
pub mod render;
