//! `hotline`: the command-line interface of a Hotline node.
//!
//! One binary for every user: stewards run the offline key ceremony
//! (`keygen`, `charter`, `admission`), a national operator creates and runs a
//! node (`init`, `daemon`), and points of contact manage their records and
//! read the directory. Every command prints plain text, or one JSON document
//! with `--json`; every failure is one line on stderr and a non-zero exit.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let json = args.json;
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<cli::StdoutClosed>() => ExitCode::SUCCESS,
        Err(err) if err.is::<cli::AlreadyReported>() => ExitCode::FAILURE,
        Err(err) => {
            // One line: the outermost context, then the causes, joined.
            let message = err.chain().map(|e| e.to_string()).collect::<Vec<_>>().join(": ");
            if json {
                println!("{}", serde_json::json!({ "error": { "message": message } }));
            }
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
