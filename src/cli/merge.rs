//! `creditlens merge`: joins the outputs of a sharded `score` run into what one unsharded run writes.

use clap::Args;
use std::path::PathBuf;

/// Arguments of `creditlens merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The merged output (.jsonl).
    #[arg(value_name = "OUT")]
    out: PathBuf,
    /// The shards' outputs (`creditlens score --shard ... --out SHARD.jsonl`), each with its SHARD.jsonl.run.json.
    #[arg(value_name = "SHARD", required = true, num_args = 1..)]
    shards: Vec<PathBuf>,
    /// Overwrite OUT if it exists.
    #[arg(long)]
    force: bool,
}

pub fn run(args: MergeArgs) -> anyhow::Result<()> {
    let merged = creditlens::shard::merge(&args.out, &args.shards, args.force)?;
    let mut line = format!(
        "merged {} record(s) from {} shard(s) into {}",
        merged.records,
        merged.shards,
        args.out.display()
    );
    if merged.skipped > 0 {
        line += &format!(
            "; {} record(s) were skipped by their shard (--skip-bad)",
            merged.skipped
        );
    }
    eprintln!("{line}");
    Ok(())
}
