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
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            // --help and --version: printed, and a success.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // A usage mistake is a failure like any other: exit 1, and with
            // --json one JSON document on stdout too.
            let json = std::env::args().any(|a| a == "--json");
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ").to_string();
            if json {
                println!("{}", serde_json::json!({ "error": { "code": "usage", "message": first } }));
            }
            eprint!("{text}");
            return ExitCode::FAILURE;
        }
    };
    let json = args.json;
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<cli::StdoutClosed>() => ExitCode::SUCCESS,
        Err(err) if err.is::<cli::AlreadyReported>() => ExitCode::FAILURE,
        Err(err) => {
            // One line: the outermost context, then the causes, joined.
            let message = err.chain().map(|e| e.to_string()).collect::<Vec<_>>().join(": ");
            if json {
                // The daemon's stable code, when the daemon refused.
                let code = err.chain().find_map(|e| match e.downcast_ref::<hotline_node::ClientError>() {
                    Some(hotline_node::ClientError::Api { code, .. }) => Some(code.clone()),
                    _ => None,
                });
                let error = match code {
                    Some(code) => serde_json::json!({ "code": code, "message": message }),
                    None => serde_json::json!({ "message": message }),
                };
                println!("{}", serde_json::json!({ "error": error }));
            }
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
