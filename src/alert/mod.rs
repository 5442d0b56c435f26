//! The alert stage: what an alert says (render), how it travels (mailer), and the worker that
//! takes alerts from the outbox and delivers them exactly once (outbox).

pub mod mailer;
pub mod outbox;
pub mod render;
