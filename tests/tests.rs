//! Integration tests, compiled into one binary (`autotests = false`).

mod cli;
mod errors;
mod golden;
mod train;
mod util;
