//! Integration tests, compiled into one binary (`autotests = false`).

mod chat;
mod cli;
mod demo;
mod errors;
mod golden;
mod gui;
mod render;
mod screenshot;
mod train;
mod util;
