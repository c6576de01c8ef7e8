//! Integration tests, compiled into one binary (`autotests = false`).

mod chat;
mod cli;
mod demo;
mod errors;
mod features;
mod fuzzing;
mod golden;
#[cfg(feature = "gui")]
mod gui;
#[cfg(feature = "gui")]
mod gui_views;
#[cfg(unix)]
mod models;
mod real_runs;
mod render;
mod reuse;
#[cfg(feature = "gui")]
mod screenshot;
mod search;
mod shard;
mod structure;
mod train;
mod util;
mod validation;
mod watch;
