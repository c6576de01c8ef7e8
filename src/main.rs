//! The `creditlens` command line: a thin layer over the library.

mod cli;

#[global_allocator]
static GLOBAL: creditlens::alloc::Allocator = mimalloc::MiMalloc;

use std::process::ExitCode;

fn main() -> ExitCode {
    // SAFETY: the first statement of main, before any thread exists.
    unsafe { creditlens::threads::configure() };
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Output piped into `head` and the like: stop quietly, as other Unix tools do.
            if e.chain().any(|c| {
                c.downcast_ref::<creditlens::Error>()
                    .is_some_and(creditlens::Error::is_broken_pipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
